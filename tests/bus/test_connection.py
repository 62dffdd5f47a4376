"""The embedded nats-server: started when no URL is set, shared by processes of one data folder,
stopped by the process that started it; a URL that does not answer is named in the error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nats
import pytest

from tradewinds.bus.connection import BusUnavailable, bus_connection, connect_to, embedded_server_folder
from tradewinds.bus.server import EmbeddedNatsServer
from tradewinds.bus.shared_server import shared_embedded_server
from tradewinds.config import Settings


def settings(home: Path, url: str | None = None) -> Settings:
    return Settings(home=home, database_url=None, nats_url=url)


async def test_without_a_url_an_embedded_server_with_jetstream_runs_and_stops(tmp_path: Path) -> None:
    async with bus_connection(settings(tmp_path), "test") as bus:
        url = bus.connected_url.geturl()
        info = await bus.jetstream().account_info()  # JetStream is on
        assert info is not None
        sub = await bus.subscribe("hello")
        await bus.publish("hello", b"world")
        assert (await sub.next_msg(timeout=2)).data == b"world"
    assert not (embedded_server_folder(tmp_path) / "server.json").exists()
    with pytest.raises(BusUnavailable, match="cannot connect to NATS"):
        await connect_to(url, "after", connect_timeout=1)


async def test_a_second_user_of_the_folder_joins_the_running_server(tmp_path: Path) -> None:
    folder = tmp_path / "nats"
    with shared_embedded_server(folder) as first, shared_embedded_server(folder) as second:
        assert first == second
        a, b = await nats.connect(first), await nats.connect(second)
        sub = await b.subscribe("x")
        await b.flush()
        await a.publish("x", b"1")
        assert (await sub.next_msg(timeout=2)).data == b"1"
        await a.close()
        await b.close()


def test_a_record_left_by_a_dead_process_is_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "nats"
    folder.mkdir()
    dead_pid = 2**22 + 12345  # above the kernel's default pid_max
    (folder / "server.json").write_text(json.dumps({"pid": dead_pid, "url": "nats://127.0.0.1:1"}))
    with shared_embedded_server(folder) as url:
        assert url != "nats://127.0.0.1:1"
        assert json.loads((folder / "server.json").read_text())["pid"] == os.getpid()


async def test_a_url_nobody_answers_is_named(tmp_path: Path) -> None:
    with pytest.raises(BusUnavailable, match=r"nats://127\.0\.0\.1:9"):
        async with bus_connection(settings(tmp_path, "nats://127.0.0.1:9"), "test", connect_timeout=1):
            pass


async def test_a_server_left_running_by_a_killed_owner_is_stopped_and_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "nats"
    orphan = EmbeddedNatsServer(folder)
    orphan.start()
    dead_owner = 2**22 + 12345
    (folder / "server.json").write_text(
        json.dumps({"pid": dead_owner, "server_pid": orphan.pid, "url": orphan.url})
    )
    with shared_embedded_server(folder) as url:
        assert not orphan.running  # stopped: it held the JetStream folder
        assert json.loads((folder / "server.json").read_text())["pid"] == os.getpid()
        client = await nats.connect(url)
        await client.close()
    orphan.stop()


def test_a_reused_pid_is_not_taken_for_the_server(tmp_path: Path) -> None:
    folder = tmp_path / "nats"
    folder.mkdir()
    (folder / "server.json").write_text(
        json.dumps({"pid": 2**22 + 12345, "server_pid": os.getpid(), "url": "x"})
    )
    with shared_embedded_server(folder):
        pass  # we are still alive: our own pid was not signalled
