"""Technical indicators over whole candle series (numpy), the values behind `ta.*` in strategies.

The engine computes each indicator once per dataset with `INDICATORS[name].compute(...)` and
reads values by index. Outputs have the input's length, NaN until defined; seeding, smoothing
and where the first value appears follow TA-Lib, which the tests use as the oracle.

A `source` input may be another indicator's output, with a leading run of NaN: the series then
starts at its first defined value. NaN never appears later in an input (not supported).
"""

from tradewinds.strategy.indicators.catalog import INDICATORS
from tradewinds.strategy.indicators.spec import (
    FloatArray,
    IndicatorParamError,
    IndicatorSpec,
    Param,
    Params,
    validate_params,
)

__all__ = [
    "INDICATORS",
    "FloatArray",
    "IndicatorParamError",
    "IndicatorSpec",
    "Param",
    "Params",
    "validate_params",
]
