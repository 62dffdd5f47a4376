"""The command examples in README.md and docs/strategies.md are run, and what they print compared.

A ```console block holds `$ tradewinds ...` commands (a trailing backslash continues one), each
followed by the lines it prints. A `...` line stands for any number of lines; without one the
output must be exactly what is shown. So the documented figures cannot drift from the program.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCUMENTS = ("README.md", "docs/strategies.md")
BLOCK = re.compile(r"^```console\n(.*?)^```", re.S | re.M)
PROGRAMS = ("tradewinds", ".venv/bin/tradewinds")


@dataclass(frozen=True)
class Example:
    document: str
    command: str
    expected: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.document}: {self.command[:70]}"


def examples_in(document: str) -> list[Example]:
    found: list[Example] = []
    for block in BLOCK.findall((ROOT / document).read_text(encoding="utf-8")):
        command: list[str] = []
        expected: list[str] = []
        continuing = False
        for line in block.splitlines():
            if continuing or line.startswith("$ "):
                if line.startswith("$ "):
                    if command:
                        found.append(Example(document, " ".join(command), tuple(expected)))
                    command, expected = [], []
                    line = line[2:]
                continuing = line.endswith("\\")
                command.append(line.removesuffix("\\").strip())
            else:
                expected.append(line)
        if command:
            found.append(Example(document, " ".join(command), tuple(expected)))
    return found


EXAMPLES = [example for document in DOCUMENTS for example in examples_in(document)]


def matches(expected: tuple[str, ...], actual: list[str]) -> bool:
    """`expected` in order within `actual`, `...` standing for any lines; exact without `...`."""
    if "..." not in expected:
        return list(expected) == actual
    position = 0
    for line in expected:
        if line == "...":
            continue
        try:
            position = actual.index(line, position) + 1
        except ValueError:
            return False
    return expected[0] == "..." or (bool(actual) and actual[0] == expected[0])


@pytest.mark.parametrize("document", DOCUMENTS)
def test_each_document_has_examples(document: str) -> None:
    assert examples_in(document), f"{document} has no ```console examples"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_documented_example_prints_what_the_document_shows(example: Example) -> None:
    words = shlex.split(example.command)
    assert words[0] in PROGRAMS, f"{example.document}: only tradewinds commands are run: {example.command}"
    done = subprocess.run(
        [sys.executable, "-m", "tradewinds.cli", *words[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    actual = done.stdout.splitlines()
    assert matches(example.expected, actual), (
        f"{example.document} shows for `{example.command}`:\n"
        + "\n".join(example.expected)
        + "\n\nbut it prints:\n"
        + done.stdout
    )


def test_the_matcher_is_strict() -> None:
    assert matches(("a", "...", "c"), ["a", "b", "c"])
    assert not matches(("a", "...", "d"), ["a", "b", "c"])
    assert not matches(("a", "c"), ["a", "b", "c"])
    assert not matches(("b", "..."), ["a", "b"])
    assert matches(("...", "b"), ["a", "b"])
