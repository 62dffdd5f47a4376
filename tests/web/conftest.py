"""A web application on a fresh database per test, and signed-in clients for two users."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tradewinds.web.app import create_app
from tradewinds.web.settings import WebSettings

PASSWORD = "correct horse battery"


@pytest.fixture
def web_settings(tmp_path: Path, database_url: str) -> WebSettings:
    return WebSettings(home=tmp_path / "home", database_url=database_url)


@pytest.fixture
def app_client(web_settings: WebSettings) -> Iterator[TestClient]:
    web_settings.home.mkdir(parents=True, exist_ok=True)
    with TestClient(create_app(web_settings), base_url="http://testserver") as client:
        yield client


def sign_up(client: TestClient, email: str) -> dict[str, object]:
    response = client.post("/api/auth/signup", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    client.headers["X-CSRF-Token"] = client.cookies["tw_csrf"]
    return dict(response.json())


@pytest.fixture
def alice(app_client: TestClient) -> TestClient:
    sign_up(app_client, "alice@example.com")
    return app_client


def another_client(client: TestClient) -> TestClient:
    """A second browser on the same running app: its own cookies, the same event loop.

    It shares the first client's portal (the loop the app's lifespan runs in): asyncpg
    connections belong to the loop that opened them, so a second loop would break PostgreSQL."""
    other = TestClient(client.app, base_url="http://testserver")
    other.portal = client.portal
    return other


@pytest.fixture
def bob(alice: TestClient) -> TestClient:
    """A second user on the same server."""
    client = another_client(alice)
    sign_up(client, "bob@example.com")
    return client
