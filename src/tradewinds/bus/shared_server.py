"""One embedded nats-server per data folder, shared by every Tradewinds process that uses it.

Without TRADEWINDS_NATS_URL, `tradewinds exchange sim` and `tradewinds core` started in two
terminals must still meet on one bus. The first process starts a nats-server and records its URL
in `<home>/nats/server.json`; later ones find it there and connect. The process that started the
server stops it when it exits (the others then reconnect in vain: run the owner longest, e.g.
`tradewinds up`, or set TRADEWINDS_NATS_URL). A file lock makes "look, else start" atomic.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from tradewinds.bus.server import EmbeddedNatsServer


@contextlib.contextmanager
def shared_embedded_server(folder: Path) -> Iterator[str]:
    """The URL of the folder's running embedded server, started here if there is none."""
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / "server.json"
    with _locked(folder / "server.lock"):
        url = _running_url(record)
        server: EmbeddedNatsServer | None = None
        if url is None:
            server = EmbeddedNatsServer(folder)
            url = server.start()
            record.write_text(json.dumps({"pid": os.getpid(), "url": url}))
    try:
        yield url
    finally:
        if server is not None:
            with _locked(folder / "server.lock"):
                server.stop()
                with contextlib.suppress(FileNotFoundError):
                    record.unlink()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _running_url(record: Path) -> str | None:
    """The recorded URL if its owner lives and the server accepts connections, else None."""
    try:
        data = json.loads(record.read_text())
        pid, url = int(data["pid"]), str(data["url"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return url if _accepts_connections(url) else None


def _accepts_connections(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), timeout=1):
            return True
    except OSError:
        return False
