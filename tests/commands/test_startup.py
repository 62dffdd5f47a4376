"""Start-up: building the parser imports no component, so `tradewinds --help` is instant.

Checked by which modules a fresh interpreter has imported, not by timing (cli.py says the rule).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tradewinds.cli import COMMAND_MODULES, version

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "sma_ema.lua"
CANDLES = ROOT / "data" / "bitfinex_tBTCUSD_1h_2013-10.csv"

# Third-party packages that take tens to hundreds of milliseconds to import.
HEAVY = (
    "aiohttp",
    "aiosqlite",
    "alembic",
    "argon2",
    "asyncpg",
    "ccxt",
    "cryptography",
    "fastapi",
    "jinja2",
    "lupa",
    "nats",
    "numpy",
    "pyarrow",
    "pydantic",
    "scipy",
    "sqlalchemy",
    "starlette",
    "uvicorn",
)

# Runs `main(argv)` in a fresh interpreter and prints the top-level packages it imported.
PROBE = """
import contextlib, io, json, sys
from tradewinds.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
    try:
        status = main(sys.argv[1:])
    except SystemExit as exc:
        status = exc.code
print(json.dumps({"status": status, "output": out.getvalue(),
                  "modules": sorted({name.split(".")[0] for name in sys.modules})}))
"""


def probe(*argv: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True, timeout=120
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def heavy_in(result: dict[str, object]) -> list[str]:
    modules = result["modules"]
    assert isinstance(modules, list)
    return [name for name in HEAVY if name in modules]


def test_help_imports_no_component_of_any_command() -> None:
    """Building the parser imports every registered command module and runs its `register`."""
    result = probe("--help")
    assert result["status"] == 0
    assert heavy_in(result) == []
    output = str(result["output"])
    for name in COMMAND_MODULES:
        assert name in output
    assert "exit status:" in output


@pytest.mark.parametrize("command", COMMAND_MODULES)
def test_each_command_help_is_light(command: str) -> None:
    result = probe(command, "--help")
    assert result["status"] == 0, result["output"]
    assert heavy_in(result) == []


def test_version() -> None:
    result = probe("--version")
    assert result["status"] == 0
    assert str(result["output"]).strip() == f"tradewinds {version()}"
    assert version()[0].isdigit()


def test_check_imports_only_the_engine() -> None:
    result = probe("check", str(EXAMPLE))
    assert result["status"] == 0, result["output"]
    assert set(heavy_in(result)) <= {"lupa", "numpy"}


def test_backtest_of_a_file_touches_no_database_exchange_or_bus() -> None:
    result = probe("backtest", str(EXAMPLE), "--candles", str(CANDLES), "--json")
    assert result["status"] == 0, result["output"]
    assert set(heavy_in(result)) <= {"lupa", "numpy", "pyarrow"}
