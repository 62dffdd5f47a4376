from fastapi.testclient import TestClient

SOURCE = 'local sma = ta.sma(10)\nif sma() > close() then return "short" end\nreturn "long"\n'


def test_a_user_builds_an_assignment(alice: TestClient) -> None:
    me = alice.get("/api/me").json()
    assert me["email"] == "alice@example.com" and me["is_admin"] is True
    version = alice.post("/api/strategies", json={"name": "trend", "source": SOURCE})
    assert version.status_code == 201, version.text
    account = alice.post(
        "/api/accounts", json={"kind": "paper", "name": "paper", "balances": {"USD": "10000"}}
    )
    assert account.status_code == 201, account.text
    assigned = alice.post(
        "/api/assignments",
        json={
            "version_id": version.json()["id"],
            "exchange": "sim",
            "symbol": "ALPHA/USD",
            "timeframe": "1m",
            "account_id": account.json()["id"],
            "allocation": "1000",
        },
    )
    assert assigned.status_code == 201, assigned.text
    body = assigned.json()
    assert body["position"] == "short" and body["equity"] == "1000"
    assert alice.get("/api/dashboard").status_code == 200
