"""The static check for global names a strategy uses but never defines."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewinds.cli import main
from tradewinds.strategy.lint import UndefinedName, undefined_globals

# The paper's example as printed with a typo: it defines `em` and calls `ema`.
TYPO = """\
// Simple moving average
local sma = ta.sma(10)
// Exponential moving average
local em = ta.ema(10)
// Short term > long term
if sma() > ema() then
  return "short"
else
  return "long"
end
"""


def test_the_papers_typo_is_found_at_its_line() -> None:
    assert undefined_globals(TYPO) == [UndefinedName(6, "ema", "em")]
    assert undefined_globals(TYPO)[0].message == "line 6: ema is not defined; did you mean em?"


@pytest.mark.parametrize(
    "source",
    [
        "local a = ta.sma(10) if a() > close() then return 'long' end",
        "local function f(x) return x * 2 end return f(1) > 1 and 'long' or nil",
        "counter = (counter or 0) + 1 return nil",  # a global written somewhere is defined
        "for i, v in ipairs({1, 2}) do log(i, v, math.floor(v), string.upper('a')) end",
        "local t = {sma = 1, ema = 2} return t.sma > t.ema and 'long' or nil",
        "local s = 'ema is a word in a string' -- and sma in a comment\nreturn nil",
        "if crossover(ta.sma(5), ta.ema(9)) and position() == 'short' then return 'long' end",
        "local p = param('fast', 5) print(p, time(), open(), high(), low(), volume()) return nil",
    ],
)
def test_defined_names_are_not_reported(source: str) -> None:
    assert undefined_globals(source) == []


def test_undefined_names_in_nested_functions_and_outside_the_sandbox() -> None:
    source = "local function f()\n  return helper(1)\nend\nlocal x = os.time()\nreturn crossovr(close, 1)"
    problems = undefined_globals(source)
    assert [(p.line, p.name, p.suggestion) for p in problems] == [
        (2, "helper", None),
        (4, "os", None),
        (5, "crossovr", "crossover"),
    ]


def test_a_source_that_does_not_compile_has_no_name_problems() -> None:
    assert undefined_globals("local x = (") == []


def test_check_command_reports_the_undefined_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    strategy = tmp_path / "typo.lua"
    strategy.write_text(TYPO)
    assert main(["check", str(strategy)]) == 1  # calling nil fails the dry run, as before
    out = capsys.readouterr()
    assert f"warning: {strategy}: line 6: ema is not defined; did you mean em?" in out.out
    assert "there is no function ema" in out.err
