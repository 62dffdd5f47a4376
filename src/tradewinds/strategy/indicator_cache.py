"""Indicator series kept between runs over the same candles (a parameter sweep's combinations).

A sweep runs one strategy many times over one dataset with different `param()` values; runs that
ask for the same `ta.NAME(params)` of the same source get the series computed by the first.
Series are numpy arrays that no one writes after they are computed, so sharing them is safe. The
cache holds at most `max_bytes`, dropping the least recently used series first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Outputs = tuple[FloatArray, ...]

DEFAULT_MAX_BYTES = 1 << 30


class IndicatorCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self._series: OrderedDict[Hashable, Outputs] = OrderedDict()

    def __len__(self) -> int:
        return len(self._series)

    def outputs(self, key: Hashable, compute: Callable[[], Outputs]) -> Outputs:
        """The series stored under `key`, computing and storing them on a miss."""
        found = self._series.get(key)
        if found is not None:
            self._series.move_to_end(key)
            self.hits += 1
            return found
        computed = tuple(np.ascontiguousarray(values, dtype=np.float64) for values in compute())
        for values in computed:
            values.flags.writeable = False  # shared between runs: nobody may change them
        size = sum(values.nbytes for values in computed)
        while self._series and self.bytes + size > self.max_bytes:
            _, dropped = self._series.popitem(last=False)
            self.bytes -= sum(values.nbytes for values in dropped)
        if size <= self.max_bytes:
            self._series[key] = computed
            self.bytes += size
        return computed

    def clear(self) -> None:
        self._series.clear()
        self.bytes = 0
