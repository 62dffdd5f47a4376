"""The `tradewinds` command. Each subcommand lives in `tradewinds.commands.<name>`.

Start-up stays fast because building the parser imports no component. Every module named in
COMMAND_MODULES is imported to build the parser, so a command module's top level (and whatever
its `register` calls) may import only the standard library, `argparse` helpers from
`tradewinds.commands._common` and light domain modules (`timeframes`, `times`). Everything
heavy (numpy, scipy, lupa, SQLAlchemy, nats, ccxt, pyarrow, and the components built on them) is
imported inside the function that runs the command, and under `if TYPE_CHECKING:` for
annotations. To add a command: write `tradewinds/commands/<name>.py` with `register(subparsers)`
that adds its parser and sets `func` (namespace -> exit status), then add `<name>` below;
tests/commands/test_startup.py checks every registered command against the heavy list.

Exit statuses (`EXIT_*` in `tradewinds.commands._common`) are the same for every command: see
EPILOG.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tradewinds.commands._common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, fail
from tradewinds.config import ConfigError

# Each module defines `register(subparsers)`, which adds its parser and sets `func`
# (a callable taking the parsed namespace and returning the exit status).
COMMAND_MODULES: tuple[str, ...] = (
    "account",
    "assign",
    "assignments",
    "backtest",
    "check",
    "core",
    "data",
    "db",
    "eval",
    "exchange",
    "orders",
    "pause",
    "status",
    "strategy",
    "up",
    "user",
    "watch",
    "web",
)

EPILOG = """\
exit status:
  0    success
  1    what the command was given or reached is wrong or unavailable: a strategy that does
       not compile or fails, a candle file with a bad line, no stored candles, a database or
       exchange that cannot be reached
  2    the command line is wrong: an unknown or missing option, a value that does not parse
  130  interrupted (Ctrl-C)

environment: TRADEWINDS_HOME (data folder, default ~/.tradewinds), TRADEWINDS_DATABASE_URL,
TRADEWINDS_NATS_URL"""


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("tradewinds")
    except PackageNotFoundError:  # running from a source tree that is not installed
        from tradewinds import __version__

        return __version__


class VersionAction(argparse.Action):
    """`--version`, looked up only when asked: importlib.metadata costs 30 ms at every start."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"tradewinds {version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradewinds",
        description="Tradewinds: algorithmic crypto trading with sandboxed Lua strategies.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=VersionAction, help="print the version and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"tradewinds.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except ConfigError as exc:  # e.g. TRADEWINDS_HOME names a file: whichever command reached it
        return fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like
        return EXIT_OK
    return status


if __name__ == "__main__":
    sys.exit(main())
