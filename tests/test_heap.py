"""heap.py: services collect their young objects as before and walk the whole heap 10x rarer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tradewinds.heap import FULL_AFTER, tune_collector


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_only_full_collections_are_made_rarer(thresholds: tuple[int, int, int]) -> None:
    tune_collector()
    young, middle, full = gc.get_threshold()
    assert (young, middle) == thresholds[:2]
    assert full == FULL_AFTER == 10 * 10
