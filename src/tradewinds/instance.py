"""One core per data folder: a second `tradewinds up` or `tradewinds core` refuses to start.

Two cores on one folder would both take every candle update and publish every close twice over,
so the second one names the first (pid, since when, which command) and exits. The lock is an
`flock` on `$TRADEWINDS_HOME/core.lock`: the kernel drops it when its holder exits, even on
kill -9, so a crashed core never blocks its restart. The file's content only describes the
holder for the refusal message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO


class AlreadyRunning(RuntimeError):
    """Another process holds the data folder; the message names it."""


def lock_path(home: Path, role: str) -> Path:
    return home / f"{role}.lock"


@contextlib.contextmanager
def exclusive(home: Path, role: str = "core", command: str | None = None) -> Iterator[None]:
    """Hold the data folder's `role` lock for the block, or raise AlreadyRunning."""
    path = lock_path(home, role)
    handle = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(_refusal(path, handle)) from None
        _describe_holder(handle, command or " ".join(["tradewinds", *sys.argv[1:2]]))
        yield
    finally:
        handle.close()  # releases the lock


def _describe_holder(handle: IO[str], command: str) -> None:
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(holder) + "\n")
    handle.flush()


def _refusal(path: Path, handle: IO[str]) -> str:
    handle.seek(0)
    try:
        holder = json.loads(handle.read() or "{}")
    except ValueError:
        holder = {}
    folder = path.parent
    if not holder:
        return f"another Tradewinds core is already running on the data folder {folder} (lock {path})"
    return (
        f"{holder.get('command', 'a Tradewinds core')} is already running on the data folder {folder}: "
        f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, since {holder.get('started', '?')}. "
        "Stop it first, or give this one another TRADEWINDS_HOME."
    )
