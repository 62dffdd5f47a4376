"""What one `ta.NAME(...)` call means, worked out once per distinct call: its checked parameters,
each output's label, and where each output's first value is.

Every live close creates each strategy's indicators anew over the new window. Checking the same
parameters and formatting the same labels each time cost about a third of creating them, beside
the computing itself; these depend only on the call, so they are kept.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from tradewinds.strategy.indicators.catalog import INDICATORS
from tradewinds.strategy.indicators.spec import IndicatorSpec, Params, validate_params


@dataclass(frozen=True, slots=True)
class IndicatorCall:
    spec: IndicatorSpec
    params: Params
    labels: tuple[str, ...]  # per output: `ta.sma(10)`, `ta.macd(12, 26, 9).signal`, ...
    warmups: tuple[int, ...]  # per output: candles after the source's first before its first value


@functools.lru_cache(maxsize=32_768)
def indicator_call(name: str, given: tuple[float, ...], source_name: str) -> IndicatorCall:
    """`given`: the call's numbers, trailing nils dropped; `source_name`: the label of the series
    it reads (`close`, `ta.sma(10)`), ignored by indicators of fixed price columns.

    Raises IndicatorParamError (not kept) for parameters out of range."""
    spec = INDICATORS[name]
    params = validate_params(spec, list(given))
    described = spec.describe(params)
    if spec.inputs == ("source",) and source_name != (spec.default_source or "close"):
        described = f"{described[:-1]}, {source_name})" if params else f"ta.{name}({source_name})"
    outputs = spec.outputs
    labels = tuple(described if len(outputs) == 1 else f"{described}.{output}" for output in outputs)
    warmups = tuple(spec.candles_needed_for(params, index) - 1 for index in range(len(outputs)))
    return IndicatorCall(spec, params, labels, warmups)
