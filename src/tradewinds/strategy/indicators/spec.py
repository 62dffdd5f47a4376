"""What an indicator is to the strategy engine: its parameters, inputs, outputs and warm-up."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Params = tuple[float, ...]
PRICE_INPUTS = ("open", "high", "low", "close", "volume")


class IndicatorParamError(ValueError):
    """A strategy called an indicator with parameters it does not accept; the message says which."""


@dataclass(frozen=True)
class Param:
    name: str
    default: float | None  # None: the strategy must give it
    minimum: float
    integer: bool = True

    def check(self, indicator: str, given: float | None) -> float:
        chosen = self.default if given is None else given
        if chosen is None:
            raise IndicatorParamError(f"ta.{indicator}: {self.name} is required")
        value = float(chosen)
        kind = "an integer" if self.integer else "a number"
        if not math.isfinite(value) or value < self.minimum or (self.integer and not value.is_integer()):
            raise IndicatorParamError(
                f"ta.{indicator}: {self.name} must be {kind} >= {_number(self.minimum)}, got {_number(value)}"
            )
        return value


@dataclass(frozen=True)
class IndicatorSpec:
    """One `ta.NAME` indicator.

    `function` takes the input arrays (in `inputs` order) then the parameters (integers as int)
    and returns one array per output; `lookback` takes the parameters and returns the index of
    the first defined output for an input without NaN. Both are plain functions of this package.
    """

    name: str
    params: tuple[Param, ...]
    inputs: tuple[str, ...]  # ("source",), or price columns among PRICE_INPUTS
    default_source: str | None  # the price column a ("source",) indicator reads by default
    outputs: tuple[str, ...]
    function: Callable[..., tuple[FloatArray, ...]]
    lookback: Callable[..., int]

    def compute(self, inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
        """Compute every output over whole series (validated `params`).

        Outputs have the inputs' length, NaN where not defined yet. A `source` input may start
        with a run of NaN (another indicator's warm-up): the series then starts at its first
        defined value. NaN anywhere else in an input is not supported.
        """
        arrays = [np.ascontiguousarray(inputs[name], dtype=np.float64) for name in self.inputs]
        lengths = {len(a) for a in arrays}
        if len(lengths) > 1:
            raise ValueError(f"ta.{self.name}: inputs have different lengths {sorted(lengths)}")
        return self.function(*arrays, *self._typed(params))

    def candles_needed_for(self, params: Params, output_index: int = 0) -> int:
        """Candles before output `output_index` has its first value (for a NaN-free input)."""
        if not 0 <= output_index < len(self.outputs):
            raise IndexError(f"ta.{self.name} has {len(self.outputs)} outputs, not {output_index + 1}")
        # TA-Lib aligns every output of an indicator at the same first index, and so do we.
        return int(self.lookback(*self._typed(params))) + 1

    def candles_needed(self, params: Params) -> int:
        return self.candles_needed_for(params, 0)

    def describe(self, params: Params) -> str:
        """How a strategy would write this call, e.g. `ta.macd(12, 26, 9)`."""
        return f"ta.{self.name}({', '.join(_number(p) for p in params)})"

    def _typed(self, params: Params) -> tuple[float | int, ...]:
        if len(params) != len(self.params):
            raise ValueError(f"ta.{self.name} takes {len(self.params)} parameters, got {len(params)}")
        return tuple(int(v) if p.integer else float(v) for p, v in zip(self.params, params, strict=True))


def validate_params(spec: IndicatorSpec, args: Sequence[float | None]) -> Params:
    """Fill defaults (for missing or None arguments) and check ranges.

    Raises IndicatorParamError with a message naming the indicator and the parameter.
    """
    if len(args) > len(spec.params):
        raise IndicatorParamError(f"ta.{spec.name} expects {_expected(spec.params)}, got {len(args)}")
    given = list(args) + [None] * (len(spec.params) - len(args))
    return tuple(param.check(spec.name, value) for param, value in zip(spec.params, given, strict=True))


def _expected(params: tuple[Param, ...]) -> str:
    if not params:
        return "no numbers"
    names = ", ".join(p.name for p in params)
    return f"at most {len(params)} number{'s' if len(params) > 1 else ''} ({names})"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))
