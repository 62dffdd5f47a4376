"""Subjects route by exchange, symbol and timeframe, and a filter matches exactly what it names."""

from __future__ import annotations

import pytest

from tradewinds.bus import subjects
from tradewinds.domain.timeframes import Timeframe


def matches(pattern: str, subject: str) -> bool:
    """NATS wildcard matching: `*` one token, `>` the rest."""
    want, got = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(got) > i
        if i >= len(got) or (token != "*" and token != got[i]):
            return False
    return len(want) == len(got)


def test_closed_candle_subjects_have_one_token_per_part() -> None:
    subject = subjects.closed_candles("bitfinex", "BTC/USD", Timeframe.H1)
    assert subject == "tw.candles.closed.bitfinex.BTC/USD.1h"
    dotted = subjects.closed_candles("kraken", "X.Y/USD", "1m")
    assert dotted.split(".")[3:] == ["kraken", "X_Y/USD", "1m"]


@pytest.mark.parametrize(
    ("exchange", "symbol", "timeframe", "hit", "miss"),
    [
        (None, None, None, ("sim", "ALPHA/USD", "5m"), None),
        ("bitfinex", None, None, ("bitfinex", "ETH/USD", "1d"), ("sim", "ETH/USD", "1d")),
        (None, "BTC/USD", "1h", ("kraken", "BTC/USD", "1h"), ("kraken", "BTC/USD", "4h")),
        ("sim", "ALPHA/USD", Timeframe.M1, ("sim", "ALPHA/USD", "1m"), ("sim", "BRAVO/USD", "1m")),
    ],
)
def test_filters_match_what_they_name(
    exchange: str | None,
    symbol: str | None,
    timeframe: Timeframe | str | None,
    hit: tuple[str, str, str],
    miss: tuple[str, str, str] | None,
) -> None:
    pattern = subjects.closed_candles_filter(exchange, symbol, timeframe)
    assert matches(pattern, subjects.closed_candles(*hit))
    assert matches(subjects.ALL_CLOSED_CANDLES, subjects.closed_candles(*hit))
    if miss is not None:
        assert not matches(pattern, subjects.closed_candles(*miss))


def test_updates_and_backfills_are_per_exchange() -> None:
    assert matches(subjects.ALL_CANDLE_UPDATES, subjects.candle_updates("bitfinex"))
    assert subjects.backfill_requests("sim") == "tw.exchange.sim.backfill"


@pytest.mark.parametrize("bad", ["", "bit.finex", "a*", "x y", ">"])
def test_exchange_ids_that_would_break_routing_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="cannot be part of a subject"):
        subjects.candle_updates(bad)
