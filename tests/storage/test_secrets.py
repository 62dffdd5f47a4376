"""Secrets at rest: the platform key from the environment or a private key file."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tradewinds.storage.secrets import KEY_ENV, SecretBox, SecretKeyError


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def test_generates_a_private_key_file_on_first_use(tmp_path: Path) -> None:
    box = SecretBox.load(tmp_path)
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = box.encrypt("api-secret-123")
    assert "api-secret-123" not in token
    assert SecretBox.load(tmp_path).decrypt(token) == "api-secret-123"
    assert "api-secret" not in repr(box) and path.read_text().strip() not in repr(box)


def test_concurrent_first_loads_agree_on_one_key(tmp_path: Path) -> None:
    boxes: list[SecretBox] = []
    threads = [threading.Thread(target=lambda: boxes.append(SecretBox.load(tmp_path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    token = boxes[0].encrypt("x")
    assert all(box.decrypt(token) == "x" for box in boxes)
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]


def test_refuses_a_key_file_others_can_read(tmp_path: Path) -> None:
    SecretBox.load(tmp_path)
    os.chmod(tmp_path / "secret.key", 0o644)
    with pytest.raises(SecretKeyError, match=r"readable by other users.*chmod 600"):
        SecretBox.load(tmp_path)


def test_environment_key_wins_and_rotates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv(KEY_ENV, old)
    token = SecretBox.load(tmp_path).encrypt("s3cret")
    assert not (tmp_path / "secret.key").exists()
    monkeypatch.setenv(KEY_ENV, f"{new}, {old}")
    rotated = SecretBox.load(tmp_path)
    assert rotated.decrypt(token) == "s3cret"
    monkeypatch.setenv(KEY_ENV, new)
    assert SecretBox.load(tmp_path).decrypt(rotated.encrypt("s3cret")) == "s3cret"
    with pytest.raises(SecretKeyError, match=f"from {KEY_ENV}: it was encrypted with another key"):
        SecretBox.load(tmp_path).decrypt(token)


def test_malformed_environment_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "not-a-key")
    with pytest.raises(SecretKeyError, match=f"{KEY_ENV} is not a valid secret key") as caught:
        SecretBox.load(tmp_path)
    assert "not-a-key" not in str(caught.value)


def test_garbage_token(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        SecretBox.load(tmp_path).decrypt("garbage")
