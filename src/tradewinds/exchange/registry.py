"""Which adapter serves an exchange id: the one place commands turn `--exchange` into an adapter.

- `bitfinex`: `BitfinexAdapter` (its own budgets, 10,000-candle pages, its own candle stream).
- `sim`: the simulated exchange, `tradewinds.exchange.sim.SimulatedExchange()` with its defaults.
  It is imported only when asked for, so commands that never use it do not load it.
- any other id: `CcxtAdapter`, which refuses ids ccxt does not know, suggesting close ones.

Ids are ccxt's (lower case). `env` replaces `os.environ` for the endpoint overrides of
`exchange.urls` (`TRADEWINDS_<ID>_REST_URL`, `TRADEWINDS_<ID>_WS_URL`).
"""

from __future__ import annotations

from collections.abc import Mapping

from tradewinds.exchange.adapter import ExchangeAdapter
from tradewinds.exchange.bitfinex.adapter import MAX_CANDLES_PER_REQUEST, BitfinexAdapter
from tradewinds.exchange.ccxt_adapter import CcxtAdapter

BITFINEX_ID = "bitfinex"
SIM_ID = "sim"
CCXT_CANDLE_PAGE = 1000  # what most ccxt venues serve per request


def open_adapter(
    exchange_id: str,
    *,
    api_key: str | None = None,
    secret: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ExchangeAdapter:
    """An adapter for `exchange_id`; the caller closes it. ExchangeError names an unknown id.

    ValueError from an endpoint override that is not a URL is left to the caller, like the adapters do.
    """
    if exchange_id == BITFINEX_ID:
        return BitfinexAdapter(api_key, secret, env=env)
    if exchange_id == SIM_ID:
        return open_simulator()
    return CcxtAdapter(exchange_id, api_key, secret, env=env)


def open_simulator() -> ExchangeAdapter:
    """`SimulatedExchange()` with its defaults (8 synthetic pairs, seed 1, real-time clock).

    Imported here rather than at the top: only commands that ask for `sim` pay for loading it.
    """
    from tradewinds.exchange.sim import SimulatedExchange

    return SimulatedExchange()


def candle_page_limit(exchange_id: str) -> int:
    """The most candles one history request returns on `exchange_id` (a good page size)."""
    return MAX_CANDLES_PER_REQUEST if exchange_id == BITFINEX_ID else CCXT_CANDLE_PAGE
