"""`tradewinds watch candles`: print closed candles as the core publishes them."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from tradewinds.commands._common import CommandError, exchange_id, fail, market_symbol
from tradewinds.commands._service import run_service
from tradewinds.domain.timeframes import Timeframe


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("watch", help="watch what flows on the bus", description=__doc__)
    kinds = parser.add_subparsers(dest="watch_kind", metavar="WHAT", required=True)
    candles = kinds.add_parser("candles", help="closed candles, one line each")
    candles.add_argument("--exchange", help="only this exchange, e.g. bitfinex")
    candles.add_argument("--symbol", help="only this market, e.g. BTC/USD")
    candles.add_argument("--timeframe", help="only this timeframe, e.g. 1m, 1h")
    candles.add_argument("--count", type=int, metavar="N", help="exit after N candles")
    candles.add_argument("--json", action="store_true", help="print each candle as a JSON object")
    candles.set_defaults(func=run_candles)


def run_candles(args: argparse.Namespace) -> int:
    import msgspec  # the bus's modules are imported here: the parser must stay light (cli.py)
    from nats.js.api import DeliverPolicy

    from tradewinds.bus import codec, streams, subjects
    from tradewinds.core.display import format_closed_candle
    from tradewinds.domain.messages import ClosedCandle

    try:
        timeframe = Timeframe.parse(args.timeframe) if args.timeframe else None
        exchange = exchange_id(args.exchange) if args.exchange else None  # as the core spells it
        symbol = market_symbol(args.symbol) if args.symbol else None
        subject = subjects.closed_candles_filter(exchange, symbol, timeframe)
    except CommandError as exc:
        return fail(str(exc), exc.status)
    except ValueError as exc:
        return fail(str(exc))
    if args.count is not None and args.count < 1:
        return fail("--count must be at least 1")

    async def body(bus: Any, stop: asyncio.Event) -> int:
        seen = 0

        async def show(msg: Any) -> None:
            nonlocal seen
            if args.count is not None and seen >= args.count:
                return  # delivered before the unsubscribe took effect
            try:
                closed = codec.decode(msg.data, ClosedCandle)
            except msgspec.DecodeError as exc:
                print(f"(a message on {msg.subject} is not a closed candle: {exc})", file=sys.stderr)
                return
            line = msgspec.json.encode(closed).decode() if args.json else format_closed_candle(closed)
            print(line, flush=True)
            seen += 1
            if args.count is not None and seen >= args.count:
                stop.set()

        # From the JetStream stream, not the plain subject: a close the core published twice (a
        # restart re-closing what it backfilled) is stored, and so shown, once.
        js = bus.jetstream()
        await streams.ensure_stream(js, streams.CANDLES)
        subscription = await js.subscribe(
            subject, cb=show, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
        )
        print(f"watching {subject} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        await stop.wait()
        await subscription.unsubscribe()
        return 0

    return run_service("tradewinds-watch", body)
