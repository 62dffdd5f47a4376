"""`tradewinds up`'s live status: redrawn in place on a terminal, a compact line otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

from tradewinds.platform.status import StatusReport
from tradewinds.platform.view import compact, render

log = logging.getLogger("tradewinds.up")

HOME_AND_CLEAR = "\x1b[H\x1b[2J"
HOME = "\x1b[H"
CLEAR_LINE_END = "\x1b[K"
CLEAR_BELOW = "\x1b[J"


class LiveStatus:
    """Draws the report `collect()` returns every `interval_s` until `stop` is set."""

    def __init__(
        self,
        collect: Callable[[], Awaitable[StatusReport]],
        out: TextIO = sys.stdout,
        interactive: bool | None = None,
        interval_s: float | None = None,
        header: list[str] | None = None,
    ) -> None:
        self.collect = collect
        self.out = out
        self.interactive = out.isatty() if interactive is None else interactive
        self.interval_s = interval_s if interval_s is not None else (1.0 if self.interactive else 10.0)
        self.header = header or []
        self.last: StatusReport | None = None
        self._drawn = False

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.draw()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)

    async def draw(self) -> None:
        try:
            report = await self.collect()
        except Exception as exc:  # the view must not take the platform down
            log.warning("up: the status view could not be collected: %s", exc)
            return
        self.last = report
        if self.interactive:
            lines = [*self.header, "", *render(report), "", "Ctrl-C stops everything cleanly."]
            start = HOME if self._drawn else HOME_AND_CLEAR
            self.out.write(start + "".join(f"{line}{CLEAR_LINE_END}\n" for line in lines) + CLEAR_BELOW)
        else:
            self.out.write(compact(report) + "\n")
        self.out.flush()
        self._drawn = True
