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

# Modules indicator functions import where they use them, not at the top (scipy.signal takes half a
# second): `tradewinds --help` and `tradewinds check` must not wait for them.
LAZY_IMPORTS: tuple[str, ...] = ("scipy.signal",)


def preload() -> None:
    """Import LAZY_IMPORTS now: a live evaluator calls this when it starts, so no evaluation's
    deadline pays for an import."""
    import importlib

    for name in LAZY_IMPORTS:
        importlib.import_module(name)


__all__ = [
    "INDICATORS",
    "LAZY_IMPORTS",
    "FloatArray",
    "IndicatorParamError",
    "IndicatorSpec",
    "Param",
    "Params",
    "preload",
    "validate_params",
]
