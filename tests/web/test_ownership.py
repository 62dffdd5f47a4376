"""Everything belongs to one user: another user gets 404 for it on every route of the OpenAPI
document, reading and writing, and never sees it in a list.

The routes are read from the document itself, so a route added later without a case here fails
`test_every_route_with_an_id_is_covered` until it is added."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORD, another_client
from tradewinds.domain.trading import client_order_id
from tradewinds.storage.database import create_engine
from tradewinds.storage.trading_models import OrderRow

SOURCE = 'local s = ta.sma(3)\nif close() > s() then return "long" end\nreturn "short"\n'
CSV = "timestamp_ms,open,high,low,close,volume\n" + "".join(
    f"{i * 3_600_000},{100 + i},{101 + i},{99 + i},{100.5 + i},1\n" for i in range(50)
)


def _insert_order(database_url: str, assignment_id: int, account_id: int, user_id: int) -> int:
    async def insert() -> int:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(
                    OrderRow.__table__.insert().values(  # type: ignore[attr-defined]
                        assignment_id=assignment_id,
                        account_id=account_id,
                        user_id=user_id,
                        intent_id="x:1",
                        leg=0,
                        client_order_id=client_order_id("x:1", 0),
                        cid_date="2026-12-01",
                        exchange="sim",
                        symbol="ALPHA/USD",
                        side="buy",
                        amount="1",
                        filled="1",
                        price="100",
                        fee="0.001",
                        fee_currency="ALPHA",
                        status="filled",
                        candle_time_ms=0,
                        created_ms=1,
                        updated_ms=1,
                    )
                )
                return int(result.inserted_primary_key[0])
        finally:
            await engine.dispose()

    return asyncio.run(insert())


@pytest.fixture
def owned(alice: TestClient, database_url: str) -> dict[str, Any]:
    """Alice's things, one of each."""
    version = alice.post("/api/strategies", json={"name": "mine", "source": SOURCE}).json()
    account = alice.post(
        "/api/accounts", json={"kind": "paper", "name": "paper", "balances": {"USD": "5000"}}
    ).json()
    assignment = alice.post("/api/assignments", json={
        "version_id": version["id"], "exchange": "sim", "symbol": "ALPHA/USD", "timeframe": "1m",
        "account_id": account["id"], "allocation": "1000",
    }).json()  # fmt: skip
    backtest = alice.post(
        "/api/backtests/upload", data={"version_id": str(version["id"]), "timeframe": "1h"},
        files={"file": ("candles.csv", CSV, "text/csv")},
    ).json()  # fmt: skip
    token = alice.post("/api/tokens", json={"name": "script"}).json()
    me = alice.get("/api/me").json()
    order = _insert_order(database_url, assignment["id"], account["id"], me["id"])
    return {
        "strategy_id": version["strategy_id"], "number": version["number"], "version_id": version["id"],
        "account_id": account["id"], "assignment_id": assignment["id"], "backtest_id": backtest["id"],
        "token_id": token["id"], "order_id": order,
    }  # fmt: skip


def bodies(ids: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """A valid body for each write that takes one (so validation cannot answer before ownership)."""
    return {
        ("POST", "/api/strategies/{strategy_id}/versions"): {"source": SOURCE + "\n-- changed"},
        ("PATCH", "/api/assignments/{assignment_id}"): {"enabled": False},
    }


def _id_routes(app_client: TestClient) -> list[tuple[str, str]]:
    schema = app_client.get("/api/openapi.json").json()
    return sorted(
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if "{" in path and not path.startswith("/api/markets/")  # markets are shared, not owned
    )


def test_every_route_with_an_id_is_covered(alice: TestClient, bob: TestClient, owned: dict[str, Any]) -> None:
    routes = _id_routes(alice)
    assert len(routes) >= 14, routes
    names = {name for _, path in routes for name in re.findall(r"{(\w+)}", path)}
    assert names <= set(owned), f"no owned item for {names - set(owned)}: add one to the `owned` fixture"


def test_another_user_gets_404_on_every_route(
    alice: TestClient, bob: TestClient, owned: dict[str, Any]
) -> None:
    examples = bodies(owned)
    checked = []
    for method, path in _id_routes(alice):
        url = path.format(**owned)
        body = examples.get((method, path))
        response = bob.request(method, url, json=body)
        assert response.status_code == 404, (
            f"{method} {url} as another user: {response.status_code} {response.text}"
        )
        assert "not found" in response.json()["detail"]
        checked.append((method, path))
    # ... and the owner still has it all, unchanged by the attempts.
    for method, path in _id_routes(alice):
        if method == "GET":
            assert alice.get(path.format(**owned)).status_code == 200, path
    assert alice.get(f"/api/assignments/{owned['assignment_id']}").json()["enabled"] is True
    assert len(checked) >= 14


def test_lists_show_only_your_own(alice: TestClient, bob: TestClient, owned: dict[str, Any]) -> None:
    for collection in ("strategies", "accounts", "assignments", "backtests", "orders"):
        mine = alice.get(f"/api/{collection}").json()
        theirs = bob.get(f"/api/{collection}").json()
        assert mine["total"] >= 1 and theirs["total"] == 0 and theirs["items"] == [], collection
    assert bob.get("/api/tokens").json() == []
    assert bob.get("/api/orders", params={"assignment_id": owned["assignment_id"]}).json()["items"] == []
    dashboard = bob.get("/api/dashboard").json()
    assert dashboard["assignments"] == [] and dashboard["recent_orders"] == []


def test_you_cannot_use_someone_elses_things_in_yours(
    alice: TestClient, bob: TestClient, owned: dict[str, Any]
) -> None:
    bobs_account = bob.post(
        "/api/accounts", json={"kind": "paper", "name": "p", "balances": {"USD": "100"}}
    ).json()
    bobs_version = bob.post("/api/strategies", json={"name": "b", "source": SOURCE}).json()
    market = {"exchange": "sim", "symbol": "ALPHA/USD", "timeframe": "1m", "allocation": "10"}
    with_her_version = bob.post(
        "/api/assignments",
        json={**market, "version_id": owned["version_id"], "account_id": bobs_account["id"]},
    )
    with_her_account = bob.post(
        "/api/assignments",
        json={**market, "version_id": bobs_version["id"], "account_id": owned["account_id"]},
    )
    her_backtest = bob.post(
        "/api/backtests",
        json={"version_id": owned["version_id"], "exchange": "sim", "symbol": "ALPHA/USD", "timeframe": "1h"},
    )
    for response in (with_her_version, with_her_account, her_backtest):
        assert response.status_code == 404, response.text


def test_the_other_users_websocket_sees_none_of_it(alice: TestClient, bob: TestClient) -> None:
    with bob.websocket_connect("/api/ws") as socket:
        assert socket.receive_json() == {"type": "hello", "live": False}
    stranger = another_client(alice)
    with pytest.raises(Exception), stranger.websocket_connect("/api/ws") as socket:  # noqa: B017 - refused before accept
        socket.receive_json()
    assert PASSWORD  # the fixtures signed both users in with it
