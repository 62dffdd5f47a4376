"""`tradewinds data download`: an exchange's candle history into the database, page by page.

The range is walked in pages of `--page-size` candle periods, one `fetch_candles` call each, and
every page is stored as soon as it arrives, so an interrupted download keeps what it fetched. A
re-run resumes after the newest candle stored in the range (`--restart` fetches the whole range
again; storing is an upsert, so that is harmless). An empty page is not the end: Bitfinex has no
candle for a minute without trades, so the cursor moves on by a page until it passes `--until`.
Every page ends at a candle that has closed, so an empty one never means "not yet".
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TextIO

from tradewinds.commands._common import EXIT_FAILED, CommandError, fail
from tradewinds.commands.data import (
    add_series_options,
    add_time_range_options,
    series_key_from,
    time_range_from,
)
from tradewinds.commands.db import add_database_option, run_with_database
from tradewinds.domain.candles import Candle, SeriesKey
from tradewinds.domain.timeframes import Timeframe
from tradewinds.domain.times import format_time_ms
from tradewinds.exchange.adapter import ExchangeAdapter, ExchangeError
from tradewinds.exchange.resume import wall_clock_ms

if TYPE_CHECKING:  # imported where used: building the parser must stay light (cli.py)
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tradewinds.storage.candles import CandleStore

LINE_EVERY_PAGES = 10  # progress lines when stderr is not a terminal (a log, CI): one per this many pages
BAR_WIDTH = 30
INTERRUPTED_STATUS = 130  # what shells report for a command ended by Ctrl-C


def register(data_subparsers: Any) -> None:
    parser = data_subparsers.add_parser(
        "download",
        help="fetch candle history from an exchange into the database",
        description="Fetch an exchange's closed candles into the database, page by page, storing each "
        "page as it arrives. Run the same command again to resume after the newest candle stored in "
        "the range; without --since it continues after the newest stored candle. --until defaults to "
        "now.",
    )
    add_series_options(parser)
    add_time_range_options(parser)
    parser.add_argument(
        "--page-size",
        type=int,
        metavar="N",
        help="candles per request (default: the exchange's maximum, 10000 on Bitfinex, else 1000)",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="fetch the whole range from --since again instead of resuming after stored candles",
    )
    add_database_option(parser)
    parser.set_defaults(func=run_download)


def run_download(args: argparse.Namespace) -> int:
    try:
        key = series_key_from(args)
        since, until = time_range_from(args)
        page_size = page_size_from(args.page_size, key.exchange)
        if args.restart and since is None:
            raise CommandError("--restart needs --since: the range to fetch again")
    except CommandError as exc:
        return fail(str(exc), exc.status)
    download = Download(key, since, until, page_size, restart=args.restart, bar=ProgressBar(sys.stderr))
    try:
        return run_with_database(args, download.run)
    except KeyboardInterrupt:
        download.bar.close()
        print(download.interrupted_message(), file=sys.stderr)
        return INTERRUPTED_STATUS


def page_size_from(value: int | None, exchange_id: str) -> int:
    if value is None:
        from tradewinds.exchange.registry import candle_page_limit

        return candle_page_limit(exchange_id)
    if value < 1:
        raise CommandError(f"--page-size {value}: give at least 1 candle per request")
    return value


# ----------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Span:
    """What one run downloads: candle open times `start..end`, both inclusive."""

    range_start: int  # first open time of the range asked for (progress counts from here)
    start: int  # first open time to fetch: range_start, or just after what is stored
    end: int  # last open time to fetch: --until or the newest closed candle, whichever is earlier
    resumed_after: int | None  # the stored candle the run resumes after, if any

    @property
    def empty(self) -> bool:
        return self.start > self.end


def first_open_at_or_after(time_ms: int, timeframe: Timeframe) -> int:
    return -(-time_ms // timeframe.ms) * timeframe.ms


def last_open_time(timeframe: Timeframe, until_ms: int | None, now_ms: int) -> int:
    """The newest open time to fetch: at or before `until_ms`, of a candle that has closed by `now_ms`."""
    newest_closed = timeframe.bucket_start(now_ms) - timeframe.ms
    return newest_closed if until_ms is None else min(timeframe.bucket_start(until_ms), newest_closed)


def plan_span(
    timeframe: Timeframe, since_ms: int, until_ms: int | None, stored_until: int | None, now_ms: int
) -> Span:
    """The span to fetch for `--since/--until`, after `stored_until` (newest stored in range) if any."""
    first = first_open_at_or_after(since_ms, timeframe)
    start = first if stored_until is None else max(first, stored_until + timeframe.ms)
    return Span(first, start, last_open_time(timeframe, until_ms, now_ms), stored_until)


# ----------------------------------------------------------------------------- progress


@dataclass
class Progress:
    """How far a run got; also what an interruption or failure reports."""

    span: Span
    timeframe: Timeframe
    cursor: int  # the next open time to fetch
    pages: int = 0
    candles: int = 0
    changed: int = 0
    newest: int | None = None  # newest candle this run stored

    def record(self, candles: Sequence[Candle], changed: int, cursor: int) -> None:
        self.pages += 1
        self.candles += len(candles)
        self.changed += changed
        if candles:
            self.newest = candles[-1].time
        self.cursor = cursor

    @property
    def fraction(self) -> float:
        """Share of the range's time done, counting what earlier runs stored."""
        span = self.span.end + self.timeframe.ms - self.span.range_start
        if span <= 0:
            return 1.0
        return min(1.0, max(0.0, (self.cursor - self.span.range_start) / span))


def render(progress: Progress, elapsed_s: float, width: int = BAR_WIDTH) -> str:
    """`[#####-----]  42.0%  at 2024-03-01T12:00:00Z  123456 candles  2100/s`."""
    done = int(progress.fraction * width)
    rate = progress.candles / elapsed_s if elapsed_s > 0 else 0.0
    at = min(progress.cursor, progress.span.end)
    return (
        f"[{'#' * done}{'-' * (width - done)}] {progress.fraction * 100:5.1f}%  at {format_time_ms(at)}  "
        f"{progress.candles} candles  {rate:.0f}/s"
    )


class ProgressBar:
    """One line on a terminal, redrawn in place; elsewhere (a log file) a line every few pages."""

    def __init__(
        self, stream: TextIO, *, every: int = LINE_EVERY_PAGES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stream = stream
        self._every = every
        self._clock = clock
        self._started = clock()
        self._tty = _is_terminal(stream)
        self._drawn = 0  # length of the line now on the terminal
        self._last_logged_page = -1

    def update(self, progress: Progress) -> None:
        if self._tty:
            self._redraw(progress)
        elif progress.pages and progress.pages % self._every == 0:
            self._log(progress)

    def finish(self, progress: Progress) -> None:
        if self._tty:
            self._redraw(progress)
            self.close()
        elif progress.pages != self._last_logged_page:
            self._log(progress)

    def close(self) -> None:
        """End a line left on the terminal, so what is printed next starts on its own line."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = 0

    def _redraw(self, progress: Progress) -> None:
        line = render(progress, self._clock() - self._started)
        # Pad over the tail of a longer previous line.
        self._stream.write("\r" + line.ljust(self._drawn))
        self._stream.flush()
        self._drawn = len(line)

    def _log(self, progress: Progress) -> None:
        self._stream.write(render(progress, self._clock() - self._started) + "\n")
        self._stream.flush()
        self._last_logged_page = progress.pages


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


# ----------------------------------------------------------------------------- the download


class Download:
    """One run of the command; `run` is the task for `run_with_database`."""

    def __init__(
        self,
        key: SeriesKey,
        since_ms: int | None,
        until_ms: int | None,
        page_size: int,
        *,
        restart: bool,
        bar: ProgressBar,
        now_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.key = key
        self.since_ms = since_ms
        self.until_ms = until_ms
        self.page_size = page_size
        self.restart = restart
        self.bar = bar
        self.now_ms = now_ms
        self.progress: Progress | None = None

    async def run(self, engine: AsyncEngine, shown: str) -> int:
        from tradewinds.exchange.registry import open_adapter
        from tradewinds.storage.candles import CandleStore
        from tradewinds.storage.schema import check_current

        try:
            adapter = open_adapter(self.key.exchange)
        except (ExchangeError, ValueError) as exc:  # unknown id, or a bad endpoint override
            return fail(str(exc))
        try:
            await check_current(engine, f"database {shown}")
            span = await self._plan(engine)
            if span.empty:
                print(self._nothing_to_do(span))
                return 0
            if span.resumed_after is not None:
                hint = " (--restart fetches the whole range again)" if self.since_ms is not None else ""
                stored_until = format_time_ms(span.resumed_after)
                print(
                    f"resuming after {stored_until}, the newest candle already stored{hint}", file=sys.stderr
                )
            await self._fetch(adapter, CandleStore(engine), span)
        except CommandError as exc:
            return fail(str(exc), exc.status)
        except ExchangeError as exc:  # unknown symbol, exchange unavailable after the adapter's retries
            return fail(self._stopped(str(exc)), EXIT_FAILED)
        finally:
            self.bar.close()  # whatever is printed next starts on a line of its own
            await adapter.close()
        print(self._summary())
        return 0

    async def _plan(self, engine: AsyncEngine) -> Span:
        from tradewinds.storage.candles import CandleStore

        timeframe, now = self.key.timeframe, self.now_ms()
        if self.since_ms is None:
            latest = await CandleStore(engine).latest_time(self.key)
            if latest is None:
                raise CommandError(
                    f"nothing is stored for {self.key} yet: give --since for its first download"
                )
            # Continue the series: the range starts just after its newest candle.
            return replace(
                plan_span(timeframe, latest + timeframe.ms, self.until_ms, None, now), resumed_after=latest
            )
        first = first_open_at_or_after(self.since_ms, timeframe)
        end = last_open_time(timeframe, self.until_ms, now)
        stored = None
        if not self.restart and first <= end:
            stored = await CandleStore(engine).latest_time(self.key, first, end)
        return plan_span(timeframe, self.since_ms, self.until_ms, stored, now)

    async def _fetch(self, adapter: ExchangeAdapter, store: CandleStore, span: Span) -> None:
        timeframe = self.key.timeframe
        progress = self.progress = Progress(span, timeframe, cursor=span.start)
        self.bar.update(progress)
        cursor = span.start
        while cursor <= span.end:
            page_end = min(cursor + (self.page_size - 1) * timeframe.ms, span.end)
            candles = await adapter.fetch_candles(
                self.key.symbol, timeframe, cursor, page_end, limit=self.page_size
            )
            changed = await store.upsert(self.key, candles)
            # Past the page even when it was empty: a quiet stretch, not the end of the history.
            cursor = page_end + timeframe.ms
            progress.record(candles, changed, cursor)
            self.bar.update(progress)
        self.bar.finish(progress)

    def _nothing_to_do(self, span: Span) -> str:
        from tradewinds.storage.candles import describe_range

        asked = describe_range(self.since_ms, self.until_ms)
        if span.resumed_after is None:
            return f"nothing to download for {self.key} {asked}: no candle there has closed yet"
        hint = " (--restart fetches the range again)" if self.since_ms is not None else ""
        return (
            f"nothing to download for {self.key} {asked}: candles are stored up to "
            f"{format_time_ms(span.resumed_after)}{hint}"
        )

    def _summary(self) -> str:
        from tradewinds.storage.candles import describe_range

        progress = self.progress
        assert progress is not None
        span = progress.span
        requests = f"{progress.pages} request{'' if progress.pages == 1 else 's'}"
        text = (
            f"downloaded {progress.candles} candles for {self.key} {describe_range(span.start, span.end)} "
            f"in {requests}; {progress.changed} new or changed"
        )
        if progress.candles == 0:
            text += "; the exchange has no candles there"
        return text

    def _reached(self) -> str:
        """How far this run got, for a failure or an interruption."""
        progress = self.progress
        if progress is None or progress.newest is None:
            return "nothing stored by this run"
        return f"stored {progress.candles} candles for {self.key} up to {format_time_ms(progress.newest)}"

    def _stopped(self, message: str) -> str:
        if self.progress is None or self.progress.pages == 0:
            return message
        return f"{message}; {self._reached()}: run the same command again to resume"

    def interrupted_message(self) -> str:
        return f"interrupted: {self._reached()}; run the same command again to resume"
