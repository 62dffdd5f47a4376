"""Signing up, in and out; sessions, CSRF, tokens and rate limits, as a browser and a script meet them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORD, another_client, sign_up


def test_signup_signs_in_with_safe_cookies(app_client: TestClient) -> None:
    response = app_client.post("/api/auth/signup", json={"email": " Ada@Example.com ", "password": PASSWORD})
    assert response.status_code == 201
    assert response.json() == {"id": 1, "email": "ada@example.com", "is_admin": True, "trading_paused": False}
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("tw_session="))
    csrf = next(c for c in cookies if c.startswith("tw_csrf="))
    assert "HttpOnly" in session and "SameSite=lax" in session and "Secure" not in session
    assert "HttpOnly" not in csrf
    assert app_client.get("/api/me").json()["email"] == "ada@example.com"


def test_cookies_are_secure_behind_https(app_client: TestClient) -> None:
    response = app_client.post(
        "/api/auth/signup",
        json={"email": "a@example.com", "password": PASSWORD},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert all("Secure" in c for c in response.headers.get_list("set-cookie"))


def test_only_the_first_user_is_an_administrator(alice: TestClient, bob: TestClient) -> None:
    assert alice.get("/api/me").json()["is_admin"] is True
    assert bob.get("/api/me").json()["is_admin"] is False
    assert bob.get("/api/admin/health").status_code == 403
    health = alice.get("/api/admin/health").json()
    assert health["users"] == 2 and health["database"] == "ok"


def test_signup_errors_name_the_field(app_client: TestClient) -> None:
    bad = app_client.post("/api/auth/signup", json={"email": "not-an-email", "password": PASSWORD})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "email"
    short = app_client.post("/api/auth/signup", json={"email": "a@example.com", "password": "short"})
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "password"
    sign_up(app_client, "a@example.com")
    twice = app_client.post("/api/auth/signup", json={"email": "A@example.com", "password": PASSWORD})
    assert twice.status_code == 422 and "already exists" in twice.json()["detail"]
    missing = app_client.post("/api/auth/signup", json={"email": "b@example.com"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "password"


def test_login_logout(app_client: TestClient) -> None:
    sign_up(app_client, "a@example.com")
    assert app_client.post("/api/auth/logout").status_code == 204
    assert app_client.get("/api/me").status_code == 401
    wrong = app_client.post("/api/auth/login", json={"email": "a@example.com", "password": "wrong password"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong email or password"
    unknown = app_client.post("/api/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    assert unknown.json()["detail"] == wrong.json()["detail"]  # no telling which accounts exist
    assert (
        app_client.post("/api/auth/login", json={"email": "a@example.com", "password": PASSWORD}).status_code
        == 200
    )
    assert app_client.get("/api/me").status_code == 200


def test_sign_in_attempts_are_limited_per_account(app_client: TestClient) -> None:
    sign_up(app_client, "a@example.com")
    app_client.post("/api/auth/logout")
    for _ in range(8):
        assert (
            app_client.post(
                "/api/auth/login", json={"email": "a@example.com", "password": "guess"}
            ).status_code
            == 401
        )
    limited = app_client.post("/api/auth/login", json={"email": "a@example.com", "password": PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0


def test_writes_with_the_cookie_need_the_csrf_token(alice: TestClient) -> None:
    del alice.headers["X-CSRF-Token"]
    refused = alice.post("/api/tokens", json={"name": "x"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    alice.headers["X-CSRF-Token"] = "forged"
    assert alice.post("/api/tokens", json={"name": "x"}).status_code == 403
    alice.headers["X-CSRF-Token"] = alice.cookies["tw_csrf"]
    assert alice.post("/api/tokens", json={"name": "x"}).status_code == 201


def test_a_cross_site_form_post_is_refused(alice: TestClient) -> None:
    """What a form on another site would send: the cookie, no token, a foreign Origin."""
    form = alice.post(
        "/api/me/trading",
        content=b"trading_paused=true",
        headers={
            "Origin": "https://evil.example",
            "Content-Type": "application/x-www-form-urlencoded",
            "X-CSRF-Token": "",
        },
    )
    assert form.status_code in (403, 405)
    put = alice.put(
        "/api/me/trading", json={"trading_paused": True}, headers={"Origin": "https://evil.example"}
    )
    assert put.status_code == 403 and "cross-site" in put.json()["detail"]
    login = alice.post(
        "/api/auth/login",
        json={"email": "alice@example.com", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert login.status_code == 403
    assert alice.get("/api/me").json()["trading_paused"] is False


def test_personal_api_tokens(alice: TestClient) -> None:
    created = alice.post("/api/tokens", json={"name": "my script"})
    token = created.json()["token"]
    assert token.startswith("tw_") and created.json()["prefix"] == token[:10]
    assert "token" not in str(alice.get("/api/tokens").json()[0].get("token") or "")
    script = another_client(alice)
    script.headers["Authorization"] = f"Bearer {token}"
    assert script.get("/api/me").json()["email"] == "alice@example.com"
    assert (
        script.put("/api/me/trading", json={"trading_paused": True}).status_code == 200
    )  # no CSRF for tokens
    assert alice.delete(f"/api/tokens/{created.json()['id']}").status_code == 204
    assert script.get("/api/me").status_code == 401
    script.headers["Authorization"] = "Basic abc"
    assert script.get("/api/me").status_code == 401


def test_password_change_signs_out_other_browsers(alice: TestClient) -> None:
    other = another_client(alice)
    assert (
        other.post("/api/auth/login", json={"email": "alice@example.com", "password": PASSWORD}).status_code
        == 200
    )
    wrong = alice.post(
        "/api/me/password", json={"current_password": "nope", "new_password": "another long one"}
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "current_password"
    ok = alice.post(
        "/api/me/password", json={"current_password": PASSWORD, "new_password": "another long one"}
    )
    assert ok.status_code == 204
    assert other.get("/api/me").status_code == 401
    assert alice.get("/api/me").status_code == 200
    assert (
        other.post(
            "/api/auth/login", json={"email": "alice@example.com", "password": "another long one"}
        ).status_code
        == 200
    )


def test_the_trading_switch(alice: TestClient) -> None:
    assert alice.put("/api/me/trading", json={"trading_paused": True}).json()["trading_paused"] is True
    assert alice.get("/api/me").json()["trading_paused"] is True
    assert alice.put("/api/me/trading", json={"trading_paused": False}).json()["trading_paused"] is False
