"""Secrets at rest: exchange API keys are stored encrypted with the platform's secret key.

The key is `TRADEWINDS_SECRET_KEY` (a Fernet key; several separated by commas rotate keys: the
first encrypts, any of them decrypts), else the file `secret.key` in the data folder, generated on
first use and readable only by its owner. Losing the key loses the stored API keys (they must be
entered again), never the rest of the database.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_ENV = "TRADEWINDS_SECRET_KEY"
KEY_FILE = "secret.key"


class SecretKeyError(Exception):
    """The secret key is missing, malformed, exposed, or not the one a secret was encrypted with."""


class SecretBox:
    """Encrypts and decrypts short texts (API keys) with the platform's secret key."""

    __slots__ = ("_fernet", "_source")

    def __init__(self, keys: list[bytes], source: str) -> None:
        if not keys:
            raise SecretKeyError(f"{source} holds no key")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except (ValueError, TypeError):
            raise SecretKeyError(
                f"{source} is not a valid secret key (expected 32 url-safe base64-encoded bytes, "
                f"as `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'` "
                f"prints)"
            ) from None
        self._source = source

    @classmethod
    def load(cls, home: Path, create: bool = True) -> SecretBox:
        """The key from `TRADEWINDS_SECRET_KEY`, else `home/secret.key` (created on first use
        unless `create` is False: then a missing file is a SecretKeyError)."""
        configured = os.environ.get(KEY_ENV, "").strip()
        if configured:
            keys = [part.strip().encode() for part in configured.split(",") if part.strip()]
            return cls(keys, KEY_ENV)
        path = home / KEY_FILE
        if not create:
            try:
                return cls([_read_key(path)], str(path))
            except FileNotFoundError:
                raise SecretKeyError(f"no secret key: {KEY_ENV} is unset and {path} does not exist") from None
        return cls([_read_or_create_key(path)], str(path))

    @property
    def source(self) -> str:
        """Where the key came from (the variable's name or the file's path, never the key)."""
        return self._source

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise SecretKeyError(
                f"a stored secret cannot be decrypted with the key from {self._source}: it was "
                f"encrypted with another key (restore that key, or enter the account's API keys again)"
            ) from None

    def __repr__(self) -> str:
        return f"SecretBox(source={self._source!r})"


def _read_or_create_key(path: Path) -> bytes:
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write a complete key to a private temporary file, then link it into place: a concurrent
    # process either wins the link or reads the winner's key, never a half-written file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(Fernet.generate_key() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process won: use its key
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretKeyError(
            f"{path} is readable by other users (mode {stat.filemode(mode)}); "
            f"restrict it with `chmod 600 {path}`"
        )
    key = path.read_bytes().strip()
    if not key:
        raise SecretKeyError(f"{path} is empty; restore the key or remove the file to start anew")
    return key
