"""Candles and requests for the evaluation tests."""

from __future__ import annotations

import uuid

import numpy as np

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.trading import EvaluationItem, EvaluationRequest, ParamValue
from tradewinds.eval.window_codec import encode_window

M = 60_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % M


def rising(n: int, start: float = 100.0, step: float = 1.0) -> CandleArrays:
    close = start + step * np.arange(n, dtype=np.float64)
    time = T0 + M * np.arange(n, dtype=np.int64)
    return CandleArrays(time, close, close + 0.5, close - 0.5, close, np.ones(n))


def item(
    assignment_id: int,
    source: str,
    version_id: int | None = None,
    params: dict[str, ParamValue] | None = None,
    position: str = "short",
) -> EvaluationItem:
    return EvaluationItem(assignment_id, version_id or assignment_id, source, params or {}, position)


def request(window: CandleArrays, *items: EvaluationItem) -> EvaluationRequest:
    return EvaluationRequest(
        request_id=uuid.uuid4().hex,
        exchange="sim",
        symbol="ALPHA/USD",
        timeframe="1m",
        candle_time_ms=int(window.time[-1]),
        window=encode_window(window),
        items=list(items),
    )


LONG_ABOVE_SMA = 'if close() > ta.sma(param("period", 5))() then return "long" end return "short"'
KEEP = "return nil"
BROKEN_LINE_3 = "local x = 1\nlocal y = 2\nreturn x + nil\n"
SYNTAX = "return (("
FOLLOW_POSITION = 'if position() == "long" then return "short" end return "long"'
