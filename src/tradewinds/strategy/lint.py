"""Static checks of a strategy's source: global names it uses but never defines.

The paper's example defines `em` and calls `ema`: Lua only notices when that line runs (and then
says "attempt to call global 'ema'"). LuaJIT's compiler already tells globals from locals, so the
strategy is compiled (never run) and its bytecode read: every global read (GGET) of a name that
no line writes (GSET) and the sandbox does not provide is reported at its line, with the closest
name the strategy or the API has. Used by `tradewinds check` and the web editor's check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tradewinds.strategy.errors import did_you_mean
from tradewinds.strategy.source import normalize_source

# Compiles `source` without running it and lists its global accesses as "r"/"w", line, name.
# Opcode numbers are probed from two tiny chunks rather than taken from a table of the VM's.
_WALKER = r"""
local source = ...
local util = require("jit.util")
local function op_at(chunk, pc)
  local ins = util.funcbc(load(chunk, "=probe", "t"), pc)
  return ins % 256
end
local GGET, GSET = op_at("return x", 1), op_at("x = 1", 2)
local fn = load(source, "=strategy", "t")
if fn == nil then return {} end
local found = {}
local function walk(f)
  local pc = 1
  while true do
    local ins = util.funcbc(f, pc)
    if ins == nil then break end
    local op = ins % 256
    if op == GGET or op == GSET then
      local name = util.funck(f, -math.floor(ins / 65536) - 1)
      local line = util.funcinfo(f, pc).currentline
      found[#found + 1] = { op == GGET and "r" or "w", line, name }
    end
    pc = pc + 1
  end
  local k = -1
  while true do
    local constant = util.funck(f, k)
    if constant == nil then break end
    if type(constant) == "proto" then walk(constant) end
    k = k - 1
  end
end
walk(fn)
return found
"""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LUA_KEYWORDS = frozenset(
    [
        "and",
        "break",
        "do",
        "else",
        "elseif",
        "end",
        "false",
        "for",
        "function",
        "goto",
        "if",
        "in",
        "local",
        "nil",
        "not",
        "or",
        "repeat",
        "return",
        "then",
        "true",
        "until",
        "while",
    ]
)


@dataclass(frozen=True)
class UndefinedName:
    """A global the strategy reads but nothing defines: `nil` there, or an error if called."""

    line: int
    name: str
    suggestion: str | None

    @property
    def message(self) -> str:
        hint = f"; did you mean {self.suggestion}?" if self.suggestion else ""
        return f"line {self.line}: {self.name} is not defined{hint}"


def undefined_globals(source: str) -> list[UndefinedName]:
    """Each undefined global the strategy reads, once, at its first line; [] if it does not
    compile (the compile error is reported elsewhere)."""
    from tradewinds.strategy.runtime import known_names

    try:
        text = normalize_source(source)
    except ValueError:
        return []
    accesses = _lua().execute(_WALKER, text)  # a fresh state per call: callers may be threads
    entries = [(str(a[1]), int(a[2]), str(a[3])) for a in accesses.values()]
    api = set(known_names())
    written = {name for kind, _, name in entries if kind == "w"}
    words = {w for w in _IDENTIFIER.findall(text) if w not in _LUA_KEYWORDS}
    problems: dict[str, UndefinedName] = {}
    for kind, line, name in entries:
        if kind != "r" or name in api or name in written or name in problems:
            continue
        # the strategy's own names first: `ema` for a local `em` is a typo of `em`, not `ta.ema`
        own = sorted((words | written) - api - {name})
        problems[name] = UndefinedName(line, name, did_you_mean(name, own) or did_you_mean(name, sorted(api)))
    return sorted(problems.values(), key=lambda p: (p.line, p.name))


def _lua() -> Any:
    import lupa.luajit21 as luajit

    # A plain state, never given the strategy to run: `load` only compiles.
    return luajit.LuaRuntime(register_eval=False, register_builtins=False)
