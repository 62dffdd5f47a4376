"""Running the web application inside an asyncio program (`tradewinds web`, `tradewinds up`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import uvicorn

log = logging.getLogger("tradewinds.web")


class _QuietServer(uvicorn.Server):
    """Leaves SIGINT and SIGTERM to the program that runs it (which stops every component)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebServer:
    """uvicorn serving `app` on host:port until `stop()`; signals stay with the caller."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            access_log=False,
            ws="websockets-sansio",
        )
        self.server = _QuietServer(config)
        self.host, self.port = host, port
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve(), name="web-server")
        while not self.server.started:
            if self._task.done():
                with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot bind
                    self._task.result()
                raise OSError(f"cannot serve the web desk on {self.url}: is the port in use? (pick another)")
            await asyncio.sleep(0.02)
        log.info("web: serving the desk at %s", self.url)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
