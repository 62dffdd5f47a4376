"""Which `param()` names a strategy reads, so a mistyped `--param fsat=8` is an error, not ignored.

Two sources, joined: the names written literally in the source (`param("fast", 10)`, found by a
small Lua lexer that skips comments and strings, so a branch never taken still counts), and the
names a run actually asked for (`HistoryRun.params_read`, which also catches computed names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_LONG_BRACKET = re.compile(r"\[(=*)\[")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F.]+(?:[pP][+-]?\d+)?|\d*\.?\d+(?:[eE][+-]?\d+)?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


class UnknownParamError(ValueError):
    """A parameter given on the command line that the strategy never reads."""


def literal_param_names(source: str) -> frozenset[str]:
    """Names passed as a literal string to `param(...)` or `param "..."` in Lua `source`."""
    names: set[str] = set()
    tokens = list(_tokens(source))
    for i, (kind, text) in enumerate(tokens):
        if kind != "name" or text != "param" or (i and tokens[i - 1] in (("op", "."), ("op", ":"))):
            continue
        rest = tokens[i + 1 : i + 3]
        if rest and rest[0][0] == "string":
            names.add(rest[0][1])
        elif len(rest) == 2 and rest[0] == ("op", "(") and rest[1][0] == "string":
            names.add(rest[1][1])
    return frozenset(names)


def check_param_names(given: Iterable[str], source: str, read_at_run: Iterable[str], option: str) -> None:
    """Raise UnknownParamError naming each given parameter the strategy never reads."""
    known = literal_param_names(source) | frozenset(read_at_run)
    unknown = sorted(set(given) - known)
    if not unknown:
        return
    reads = ", ".join(sorted(known)) if known else "no parameters"
    which = ", ".join(unknown)
    what = "a parameter" if len(unknown) == 1 else "parameters"
    raise UnknownParamError(
        f"{option} {which}: the strategy never reads {what} named {which}; it reads {reads}"
    )


def _tokens(source: str) -> Iterator[tuple[str, str]]:
    """(kind, text) for names, strings (their value), numbers and single-character operators."""
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c.isspace():
            i += 1
        elif source.startswith("--", i):
            bracket = _LONG_BRACKET.match(source, i + 2)
            if bracket:
                i = _long_end(source, bracket.end(), bracket.group(1))
            else:
                newline = source.find("\n", i)
                i = n if newline < 0 else newline + 1
        elif c in "\"'":
            text, i = _quoted(source, i)
            yield "string", text
        elif c == "[" and (bracket := _LONG_BRACKET.match(source, i)):
            end = _long_end(source, bracket.end(), bracket.group(1))
            close = len(bracket.group(1)) + 2
            body = source[bracket.end() : max(bracket.end(), end - close)]
            yield "string", body[1:] if body.startswith("\n") else body
            i = end
        elif name := _NAME.match(source, i):
            yield "name", name.group()
            i = name.end()
        elif c.isdigit() and (number := _NUMBER.match(source, i)):
            yield "number", number.group()
            i = number.end()
        else:
            yield "op", c
            i += 1


def _long_end(source: str, start: int, level: str) -> int:
    """Index just past the `]level]` that closes a long bracket opened before `start`."""
    close = f"]{level}]"
    end = source.find(close, start)
    return len(source) if end < 0 else end + len(close)


def _quoted(source: str, start: int) -> tuple[str, int]:
    """A quoted string's value (simple escapes decoded) and the index just past it."""
    quote, i, n = source[start], start + 1, len(source)
    out: list[str] = []
    while i < n and source[i] != quote and source[i] != "\n":
        if source[i] == "\\" and i + 1 < n:
            out.append(_ESCAPES.get(source[i + 1], source[i + 1]))
            i += 2
        else:
            out.append(source[i])
            i += 1
    return "".join(out), i + 1
