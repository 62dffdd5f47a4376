"""Tradewinds commands run as real processes for the end-to-end tests, with their stderr kept in
log files that failure messages include."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import nats

from tradewinds.bus import codec, subjects
from tradewinds.bus.server import nats_server_binary
from tradewinds.domain.messages import ClosedCandle

TRADEWINDS = [sys.executable, "-m", "tradewinds.cli"]


class Processes:
    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env, self.folder = env, folder
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, stdout: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("ab")
        process = subprocess.Popen([*TRADEWINDS, *args], env=self.env, stdout=stdout, stderr=log)
        self.running[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {name} stderr ---\n{self.log(name)}" for name in self.running)

    def check_alive(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                raise AssertionError(f"{name} exited early with status {process.returncode}\n{self.logs()}")

    def stop(self, name: str, timeout: float = 20) -> int:
        """SIGTERM, as Kubernetes sends it; the exit status."""
        process = self.running[name]
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{name} did not stop within {timeout} s of SIGTERM\n{self.logs()}"
            ) from None

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.kill()
                process.wait()


class NatsServer:
    """A nats-server on a fixed port and store, so it can be killed and started again in place."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(nats_server_binary()), "--addr", "127.0.0.1", "--port", str(self.port), "--jetstream",
             "--store_dir", str(self.folder / "jetstream"), "--log", str(self.folder / "nats.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("nats-server did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def platform(
    tmp_path: Path, nats_url: str, database_url: str | None = None, extra_env: Mapping[str, str] = {}
) -> Iterator[Processes]:
    """Processes sharing one bus and one upgraded database (default: a new SQLite file); killed at
    the end."""
    env = {
        **os.environ,
        **extra_env,
        "TRADEWINDS_NATS_URL": nats_url,
        "TRADEWINDS_HOME": str(tmp_path / "home"),
        "TRADEWINDS_DATABASE_URL": database_url or f"sqlite:///{tmp_path / 'tw.db'}",
    }
    subprocess.run([*TRADEWINDS, "db", "upgrade"], env=env, check=True, capture_output=True)
    group = Processes(env, tmp_path)
    yield group
    group.stop_all()


def published_closes(nats_url: str) -> list[ClosedCandle]:
    """Every close the CANDLES stream holds, in the order it took them."""

    async def read() -> list[ClosedCandle]:
        client = await nats.connect(nats_url)
        try:
            js = client.jetstream()
            info = await js.stream_info(subjects.CANDLES_STREAM)
            messages = [
                await js.get_msg(subjects.CANDLES_STREAM, seq)
                for seq in range(info.state.first_seq, info.state.last_seq + 1)
            ]
            return [codec.decode(m.data or b"", ClosedCandle) for m in messages]
        finally:
            await client.close()

    return asyncio.run(read())


def wait_until(
    processes: Processes, what: str, condition: Callable[[], bool], within: float = 30.0, every: float = 0.2
) -> None:
    """Poll `condition` every `every` s until it holds; fail after `within` s, or at once when a
    process exited, with every log."""
    deadline = time.monotonic() + within
    while not condition():
        processes.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within:.0f} s for {what}\n{processes.logs()}")
        time.sleep(every)
