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
import signal
import socket
import time
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
            record.write_text(json.dumps({"pid": os.getpid(), "server_pid": server.pid, "url": url}))
    try:
        yield url
    finally:
        if server is not None:
            with _locked(folder / "server.lock"):
                server.stop()
                with contextlib.suppress(FileNotFoundError):
                    record.unlink()


def running_server_url(folder: Path) -> str | None:
    """The URL of the folder's embedded server if one runs, without starting one (status)."""
    return _running_url(folder / "server.json")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _running_url(record: Path) -> str | None:
    """The recorded URL if its owner lives and the server accepts connections, else None.

    A server whose owner died without stopping it (SIGKILL) is stopped here: it would hold the
    JetStream folder that a new server needs."""
    try:
        data = json.loads(record.read_text())
        pid, url = int(data["pid"]), str(data["url"])
        server_pid = data.get("server_pid")
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    if not _alive(pid):
        if isinstance(server_pid, int) and _is_our_server(server_pid, record.parent):
            _stop_orphan(server_pid, record.parent)
        return None
    return url if _accepts_connections(url) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return True


def _is_our_server(pid: int, folder: Path) -> bool:
    """Whether `pid` is still a nats-server of `folder` (not a process that reused the pid)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(command) and command[0].endswith(b"nats-server") and os.fsencode(folder) in command


def _stop_orphan(pid: int, folder: Path, wait_seconds: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_seconds
    while _is_our_server(pid, folder) and time.monotonic() < deadline:
        time.sleep(0.05)


def _accepts_connections(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), timeout=1):
            return True
    except OSError:
        return False
