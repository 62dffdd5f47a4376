"""`tradewinds web`: the web application (the trading desk and its API) as its own process.

It reads the database (TRADEWINDS_DATABASE_URL, else the data folder's) and the bus
(TRADEWINDS_NATS_URL, else the data folder's embedded server); it never evaluates strategies or
places orders. TRADEWINDS_WEB_HOST / TRADEWINDS_WEB_PORT set where it listens; behind an HTTPS
proxy set TRADEWINDS_WEB_SECURE_COOKIES=1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from tradewinds.commands._common import EXIT_FAILED, fail

DEFAULT_PORT = 8000


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "web", help="serve the web desk and its API", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "--host",
        default=os.environ.get("TRADEWINDS_WEB_HOST", "127.0.0.1"),
        help="address to listen on (default 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("TRADEWINDS_WEB_PORT", DEFAULT_PORT)),
        help=f"port (default {DEFAULT_PORT})",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug detail")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tradewinds.commands._service import run_service
    from tradewinds.config import Settings
    from tradewinds.web.app import create_app
    from tradewinds.web.server import WebServer
    from tradewinds.web.settings import WebSettings

    settings = Settings.from_env()

    async def body(bus: Any, stop: asyncio.Event) -> int:
        from tradewinds.storage import schema
        from tradewinds.storage.database import connect, display_url, resolve_database_url
        from tradewinds.storage.errors import StorageError

        url = resolve_database_url(settings.database_url)
        try:
            async with connect(url) as engine:
                await schema.check_current(engine, f"database {display_url(url)}")
        except StorageError as exc:
            return fail(str(exc), EXIT_FAILED)
        app = create_app(WebSettings.from_environment(settings.home), bus=bus)
        server = WebServer(app, args.host, args.port)
        try:
            await server.start()
        except OSError as exc:
            return fail(str(exc), EXIT_FAILED)
        print(f"Tradewinds desk at {server.url}", flush=True)
        await stop.wait()
        await server.stop()
        return 0

    return run_service("tradewinds-web", body, args.verbose)
