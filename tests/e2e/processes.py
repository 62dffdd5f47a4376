"""Tradewinds commands run as real processes for the end-to-end tests, with their stderr kept in
log files that failure messages include."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import nats

from tradewinds.bus import codec, subjects
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
