"""Schemathesis against the OpenAPI document: generated requests, valid and invalid, to every
operation, signed in with a personal API token. No request may produce a server error, and the
answers must match the documented schemas."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tradewinds.storage.database import upgrade_schema
from tradewinds.web.app import create_app
from tradewinds.web.server import WebServer
from tradewinds.web.settings import WebSettings

SOURCE = 'local s = ta.sma(3)\nif close() > s() then return "long" end\nreturn "short"\n'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, httpx.Client]]:
    """A real server on loopback with a user and one of each thing: its URL, and a client signed
    in with a session cookie (which the fuzzer, holding only API tokens, cannot end)."""
    home: Path = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{home / 'tradewinds.db'}"
    asyncio.run(upgrade_schema(url))
    port = _free_port()
    server = WebServer(create_app(WebSettings(home=home, database_url=url)), "127.0.0.1", port)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(30)
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base)
    client.post("/api/auth/signup", json={"email": "fuzz@example.com", "password": "correct horse battery"})
    csrf = {"X-CSRF-Token": client.cookies["tw_csrf"]}
    token = client.post("/api/tokens", json={"name": "fuzz"}, headers=csrf).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    version = client.post("/api/strategies", json={"name": "s", "source": SOURCE}, headers=auth).json()
    account = client.post(
        "/api/accounts", json={"kind": "paper", "name": "p", "balances": {"USD": "1000000"}}, headers=auth
    ).json()
    client.post("/api/assignments", headers=auth, json={
        "version_id": version["id"], "exchange": "sim", "symbol": "ALPHA/USD", "timeframe": "1m",
        "account_id": account["id"], "allocation": "10",
    })  # fmt: skip
    yield base, client
    client.close()
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)


def _new_token(client: httpx.Client) -> str:
    """A fresh token for each operation: the fuzzer may well revoke the one it was given."""
    response = client.post(
        "/api/tokens", json={"name": "fuzz"}, headers={"X-CSRF-Token": client.cookies["tw_csrf"]}
    )
    return str(response.json()["token"])


def _exercise(operation: Any, base: str, headers: dict[str, str], statuses: Counter[int]) -> Any:
    """Up to 30 generated requests to one operation, each checked."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=30,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case: Any) -> None:
        response = case.call_and_validate(
            base_url=base, headers=headers, checks=[not_a_server_error, response_schema_conformance]
        )
        statuses[response.status_code] += 1

    return exercise


def test_no_request_produces_a_server_error(served: tuple[str, httpx.Client]) -> None:
    """Every operation, each with up to 30 generated requests; all failures reported together."""
    base, session = served
    schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json")
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        headers = {"Authorization": f"Bearer {_new_token(session)}"}

        exercise = _exercise(operation, base, headers, statuses)
        try:
            exercise()
        except (Exception, BaseExceptionGroup) as exc:  # one operation's failure must not hide the others'
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert operations >= 30
    assert not failures, "\n\n".join(failures)
    # The requests were really signed in: most answers are not "sign in first".
    assert statuses[401] < 0.2 * sum(statuses.values()), statuses
