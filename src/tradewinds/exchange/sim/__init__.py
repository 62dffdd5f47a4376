"""The simulated exchange `sim`: a deterministic synthetic market (or a replayed CSV) in simulated time.

Every candle is a pure function of (seed, pair, minute): history, the live stream and a restarted
simulator always agree about a minute (numpy's seeding is stable; its generators' output could in
principle change between numpy versions). The synthetic price is generated a day (block) at a time
from a counter-based seed `[seed, pair, kind, day]`: each day's opening log price is drawn around
the pair's base price, and the minutes in between are a random walk pinned to both ends (a
Brownian bridge), so any minute costs one cached day and prices never drift away. A small seeded
share of minutes has no trades and no candle, as on Bitfinex, so consumers meet gaps.

The stream re-sends the forming candle `updates_per_minute` times per simulated minute; its
states are deterministic too (seeded by the minute) and end exactly at the closed candle when
the minute is over. Trading goes to a `PaperAccount` priced by the simulator's latest price.

The simulated clock runs `speed` times as fast as the injected real clock, from `start_ms`;
`now_ms()` reads it, and whatever drives consumers of the stream (e.g. the core's close timeouts)
should use that clock rather than the wall clock.
"""

from tradewinds.exchange.sim.exchange import SimulatedExchange
from tradewinds.exchange.sim.replay import ReplayTape
from tradewinds.exchange.sim.source import NAME, MinuteSource, forming_states, step_offset_ms, steps_due
from tradewinds.exchange.sim.synthetic import BLOCK_MINUTES, LISTED_MS, PairModel, SyntheticMarket, pair_name

__all__ = [
    "BLOCK_MINUTES",
    "LISTED_MS",
    "NAME",
    "MinuteSource",
    "PairModel",
    "ReplayTape",
    "SimulatedExchange",
    "SyntheticMarket",
    "forming_states",
    "pair_name",
    "step_offset_ms",
    "steps_due",
]
