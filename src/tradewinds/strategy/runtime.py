"""One LuaJIT state prepared for running strategies: the sandbox prelude plus the indicator bridge.

Strategies read candles and indicator values straight from numpy buffers through LuaJIT's FFI, so
each indicator is computed once per dataset (a whole history, or a live window) by numpy and the
per-candle work stays inside Lua.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

import lupa.luajit21 as luajit
import numpy as np
import numpy.typing as npt

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.strategy.errors import StrategySyntaxError, plain_message
from tradewinds.strategy.indicator_cache import IndicatorCache
from tradewinds.strategy.indicators import INDICATORS, IndicatorParamError
from tradewinds.strategy.indicators.calls import indicator_call
from tradewinds.strategy.limits import Limits
from tradewinds.strategy.source import normalize_source

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
ParamValue = float | int | str | bool

PRICE_SERIES = ("time", "open", "high", "low", "close", "volume")
_PRELUDE = resources.files("tradewinds.strategy").joinpath("sandbox.lua").read_text("utf-8")
# Errors located in the prelude carry this name; the sandbox moves them to the strategy's line.
_PRELUDE_CHUNK = "tradewinds-sandbox"
# A full collection runs after an evaluation that left more than this much garbage, so the next
# one's memory budget is measured from what is live (LuaJIT does not collect when an allocation
# fails). Smaller leftovers stay: the next budget starts above them, so they cost it nothing.
COLLECT_AFTER_BYTES = 256 * 1024


class IndicatorLimitError(Exception):
    """A history run asked for more indicator series, memory or time than its limits allow."""


# The names a strategy can call, for "did you mean" hints (kept in step with sandbox.lua's `base`).
_API_GLOBALS = [
    "type",
    "pairs",
    "ipairs",
    "select",
    "tostring",
    "tonumber",
    "error",
    "pcall",
    "assert",
    "next",
    "setmetatable",
    "getmetatable",
    "rawget",
    "rawequal",
    "rawset",
    "unpack",
    "math",
    "string",
    "table",
    "ta",
    "crossover",
    "crossunder",
    "param",
    "log",
    "print",
    "position",
    *PRICE_SERIES,
]


def known_names() -> list[str]:
    return _API_GLOBALS + [f"ta.{name}" for name in INDICATORS]


def _refuse_attribute(obj: object, name: object, is_setting: bool) -> str:
    # Lua code never needs Python attributes; refusing them closes the path to __globals__.
    raise AttributeError("Python attributes are not accessible from strategies")


class Dataset:
    """The candle columns and computed indicator outputs one runtime currently reads.

    Series ids index `arrays`: 1-6 are the price columns, later ids are indicator outputs. The
    arrays must stay alive while Lua holds pointers to them, which this object guarantees.
    """

    def __init__(
        self,
        candles: CandleArrays,
        on_compute: Callable[[bool], None] | None = None,
        limits: Limits | None = None,
        cache: IndicatorCache | None = None,
    ):
        """With `limits`, the indicator series this dataset computes are bounded in number,
        memory and total compute time (history runs; a live window is small and timed by the
        strategy's own deadline). With `cache`, series computed by earlier datasets of the same
        candles are taken from it (a sweep's runs)."""
        self.length = len(candles)
        self.limits = limits
        self.cache = cache
        self.indicator_count = 0
        self.indicator_bytes = 0
        self.indicator_seconds = 0.0
        self.arrays: list[FloatArray] = [np.empty(0)]
        self.first: list[int] = [0]
        self.names: list[str] = [""]
        for name in PRICE_SERIES:
            column = np.ascontiguousarray(getattr(candles, name), dtype=np.float64)
            self._add(column, name, 0)
        self._on_compute = on_compute

    def _add(self, values: FloatArray, name: str, first: int) -> int:
        self.arrays.append(values)
        self.first.append(first)
        self.names.append(name)
        return len(self.arrays) - 1

    def address(self, series_id: int) -> int:
        return int(self.arrays[series_id].ctypes.data)

    def create_indicator(self, name: str, source_id: int, *raw: Any) -> tuple[Any, ...]:
        """Called from Lua: compute `name` over the dataset; return per output (id, address,
        description, first index), or (None, message) for a user mistake."""
        if self._on_compute is not None:
            self._on_compute(True)
        started = time.monotonic()
        try:
            self._check_room(name)
            return self._create(name, int(source_id), raw)
        except (IndicatorParamError, IndicatorLimitError) as exc:
            return (None, str(exc))
        except Exception as exc:  # a bug here must not show the strategy owner a traceback
            log.exception("computing ta.%s failed", name)
            return (None, f"ta.{name} could not be computed: {exc}")
        finally:
            self.indicator_seconds += time.monotonic() - started
            if self._on_compute is not None:
                self._on_compute(False)

    def _check_room(self, name: str) -> None:
        limits = self.limits
        if limits is None:
            return
        spec = INDICATORS[name]
        if self.indicator_count + len(spec.outputs) > limits.max_indicator_series:
            raise IndicatorLimitError(
                f"indicator limit: a backtest may create at most {limits.max_indicator_series} "
                f"indicator series (each ta.* call with different parameters or source is one, "
                f"an output of ta.{name} another); this call would make "
                f"{self.indicator_count + len(spec.outputs)}"
            )
        needed = self.indicator_bytes + len(spec.outputs) * self.length * 8
        if needed > limits.indicator_memory_bytes:
            raise IndicatorLimitError(
                f"indicator memory limit of {limits.indicator_memory_text} exceeded: ta.{name} over "
                f"{self.length:,} candles would bring the indicators to {needed / 2**20:.0f} MiB"
            )
        if self.indicator_seconds * 1000 > limits.indicator_time_ms:
            raise IndicatorLimitError(
                f"indicator time limit of {limits.indicator_time_text} exceeded: creating "
                f"indicators took {self.indicator_seconds * 1000:.0f} ms so far"
            )

    def _create(self, name: str, source_id: int, raw: tuple[Any, ...]) -> tuple[Any, ...]:
        given = list(raw)
        while given and given[-1] is None:
            given.pop()
        for value in given:
            if value is not None and not isinstance(value, (int, float)):
                raise IndicatorParamError(
                    f"ta.{name}: parameters must be numbers, got {type(value).__name__} {value!r}"
                )
        source_name = self.names[source_id]
        call = indicator_call(name, tuple(given), source_name)
        spec, params = call.spec, call.params
        if spec.inputs == ("source",):
            inputs = {"source": self.arrays[source_id]}
            source_first = self.first[source_id]
        else:
            inputs = {col: self.arrays[1 + PRICE_SERIES.index(col)] for col in spec.inputs}
            source_first = 0
        if self.cache is None:
            outputs = spec.compute(inputs, params)
        else:
            # The source's label names it fully (`close`, `ta.sma(10)`), as the params do the rest.
            key = (name, source_name if spec.inputs == ("source",) else "", params)
            outputs = self.cache.outputs(key, lambda: spec.compute(inputs, params))
        result: list[Any] = []
        for values, label, warmup in zip(outputs, call.labels, call.warmups, strict=True):
            column = np.ascontiguousarray(values, dtype=np.float64)
            first = source_first + warmup
            series_id = self._add(column, label, first)
            self.indicator_count += 1
            self.indicator_bytes += column.nbytes
            result.extend((series_id, self.address(series_id), label, first))
        return tuple(result)


class StrategyRuntime:
    """A LuaJIT state with the sandbox prelude loaded. Not thread-safe: one per thread/process."""

    def __init__(self, limits: Limits | None = None, *, jit: bool = True) -> None:
        self.limits = limits or Limits()
        self.lua = luajit.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            attribute_filter=_refuse_attribute,
            max_memory=0,
        )
        self.lua.execute("python = nil")
        self.dataset: Dataset | None = None
        prelude = self.lua.execute(f"return function(...) {_PRELUDE}\nend", name=f"={_PRELUDE_CHUNK}")
        self.api = prelude(self._create_indicator, self._config_table())
        if not jit:
            # The time-limit hook never fires inside compiled traces.
            self.api.jit_off()

    def _config_table(self) -> Any:
        limits = self.limits
        indicators = [
            self.lua.table_from(
                {
                    "name": spec.name,
                    "default_source": spec.default_source if spec.inputs == ("source",) else None,
                    "noutputs": len(spec.outputs),
                    "params": self.lua.table_from(
                        [
                            self.lua.table_from(
                                {
                                    "name": p.name,
                                    "minimum": p.minimum,
                                    "integer": p.integer,
                                    "required": p.default is None,
                                }
                            )
                            for p in spec.params
                        ]
                    ),
                }
            )
            for spec in INDICATORS.values()
        ]
        return self.lua.table_from(
            {
                "memory_bytes": limits.memory_bytes,
                "memory_text": limits.memory_text,
                "time_text": limits.time_text,
                "pattern_budget": limits.pattern_budget,
                "log_lines": limits.log_lines,
                "logs_per_evaluation": limits.logs_per_evaluation,
                "log_line_chars": limits.log_line_chars,
                "hook_interval": limits.hook_interval,
                "host_chunk": _PRELUDE_CHUNK,
                "indicators": self.lua.table_from(indicators),
            }
        )

    def reset_memory_limit(self, collect: bool = True) -> None:
        """Allow the strategy `limits.memory_mb` on top of what the runtime holds now."""
        if collect:
            self.api.collect()
        self.lua.set_max_memory(self.memory_used() + self.limits.memory_bytes, total=True)

    def memory_used(self) -> int:
        return int(self.lua.get_memory_used(total=True))

    def lift_memory_limit(self) -> None:
        """No limit: for the host's own work between evaluations."""
        self.lua.set_max_memory(0)

    def _create_indicator(self, name: str, source_id: int, *params: Any) -> tuple[Any, ...]:
        if self.dataset is None:
            return (None, "no candles loaded")
        return self.dataset.create_indicator(name, source_id, *params)

    def use(self, dataset: Dataset) -> None:
        """Point the price series at `dataset` and forget indicators of the previous one."""
        self.dataset = dataset
        addresses = [dataset.address(i) for i in range(1, len(PRICE_SERIES) + 1)]
        self.api.set_prices(dataset.length, *addresses)

    def compile(self, source: str) -> Any:
        """Compile a strategy into a Lua function, or raise StrategySyntaxError."""
        try:
            text = normalize_source(source)
        except ValueError as exc:
            raise StrategySyntaxError(str(exc)) from None
        chunk, error = self.api.compile(text)
        if chunk is False:
            message, line = plain_message(str(error))
            raise StrategySyntaxError(f"syntax error: {message}", line)
        return chunk

    def params_table(self, params: Mapping[str, ParamValue] | None) -> Any:
        clean: dict[str, ParamValue] = {}
        for key, value in (params or {}).items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"parameter {key!r} must be a finite number, got {value}")
            if not isinstance(value, (bool, int, float, str)):
                raise ValueError(f"parameter {key!r} must be a number, string or boolean")
            clean[str(key)] = value
        return self.lua.table_from(clean)
