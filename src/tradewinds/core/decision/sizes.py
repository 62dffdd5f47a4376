"""How many candles each assignment's window needs: asked of the WindowSizer (a dry run of the
strategy in a child process, on a thread of its own so the event loop goes on) once per strategy
version and parameters, and then kept per assignment.

Kept per assignment because the sizer's key serializes the parameters, and doing that for every
assignment at every close was a tenth of the decision service's time on a wave of 10,000.
"""

from __future__ import annotations

import asyncio
from collections.abc import Container
from concurrent.futures import ThreadPoolExecutor

from tradewinds.domain.trading import Assignment, ParamValue
from tradewinds.eval.book import params_key
from tradewinds.eval.window_sizer import WindowSizer


class WindowSizes:
    def __init__(self, sizer: WindowSizer) -> None:
        self.sizer = sizer
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="window-sizer")
        self._known: dict[int, tuple[int, dict[str, ParamValue], int]] = {}  # id -> version, params, size

    async def of(self, assignment: Assignment) -> int:
        known = self._known.get(assignment.id)
        if known is not None and known[0] == assignment.version_id and known[1] == assignment.params:
            return known[2]
        key = params_key(assignment.params)
        size = self.sizer.cached(assignment.version_id, key)
        if size is None:
            size = await asyncio.get_running_loop().run_in_executor(
                self._pool, self.sizer.size, assignment.version_id, key, assignment.source, assignment.params
            )
        self._known[assignment.id] = (assignment.version_id, assignment.params, size)
        return size

    def keep_only(self, assignment_ids: Container[int]) -> None:
        """Forget the assignments no longer enabled."""
        self._known = {i: known for i, known in self._known.items() if i in assignment_ids}

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
