"""argon2 password hashes, computed off the event loop."""

from __future__ import annotations

import asyncio
import time

import pytest

from tradewinds.storage.passwords import (
    PasswordError,
    generate_password,
    hash_password,
    needs_rehash,
    verify_password,
)


async def test_hash_and_verify() -> None:
    hashed = await hash_password("correct horse")
    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed
    assert await verify_password(hashed, "correct horse")
    assert not await verify_password(hashed, "wrong horse")
    assert not await verify_password("not a hash", "correct horse")
    assert not needs_rehash(hashed)


async def test_hashing_does_not_block_the_event_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    await asyncio.gather(*(hash_password(f"password-{i}") for i in range(3)))
    elapsed = time.monotonic() - started
    task.cancel()
    # A blocking hash would starve the ticker for the whole elapsed time.
    assert ticks >= elapsed / 0.005 / 4


async def test_short_password_is_refused() -> None:
    with pytest.raises(PasswordError, match="at least 8"):
        await hash_password("short")


def test_generated_passwords_are_long_and_distinct() -> None:
    passwords = {generate_password() for _ in range(50)}
    assert len(passwords) == 50 and min(map(len, passwords)) >= 20
