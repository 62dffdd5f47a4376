"""Whole-column candle checks: the first row breaking a rule, and timestamps in the wrong unit."""

from __future__ import annotations

import numpy as np
import pytest

from tradewinds.domain.candle_checks import first_bad_row, time_unit_problem

MINUTE = 60_000
START = 1_704_067_200_000  # 2024-01-01 in ms


def columns(n: int = 5) -> dict[str, np.ndarray]:
    close = np.linspace(100.0, 104.0, n)
    return {
        "time": START + np.arange(n, dtype=np.int64) * MINUTE,
        "open_": close - 0.5,
        "high": close + 1.0,
        "low": close - 1.0,
        "close": close,
        "volume": np.ones(n),
    }


def test_valid_columns_have_no_bad_row() -> None:
    assert first_bad_row(**columns()) is None


@pytest.mark.parametrize(
    ("column", "index", "value"),
    [
        ("close", 3, np.nan),
        ("open_", 2, np.inf),
        ("low", 1, 0.0),
        ("volume", 4, -1.0),
        ("high", 2, 101.0),  # below the close of row 2 (102)
        ("low", 3, 104.0),  # above the open of row 3 (102.5)
        ("time", 2, START + MINUTE),  # repeats row 1's time
        ("time", 4, START),  # earlier than row 3's
        ("time", 0, -5),
    ],
)
def test_the_first_row_breaking_a_rule_is_found(column: str, index: int, value: float) -> None:
    data = columns()
    data[column] = data[column].copy()
    data[column][index] = value
    assert first_bad_row(**data) == index


def test_the_earliest_of_several_bad_rows_is_reported() -> None:
    data = columns(8)
    data["volume"][6] = -1
    data["close"][2] = np.nan
    assert first_bad_row(**data) == 2


def test_seconds_are_recognised_and_explained() -> None:
    seconds = (START // 1000) + np.arange(3, dtype=np.int64) * 60
    problem = time_unit_problem(seconds)
    assert problem is not None
    assert "look like seconds" in problem and "2024-01-01T00:00:00Z" in problem
    assert "multiply them by 1000" in problem


def test_micro_and_nanoseconds_are_recognised() -> None:
    problem = time_unit_problem(np.array([START * 1000, START * 1000 + 60_000_000]))
    assert problem is not None and "microseconds or nanoseconds" in problem


@pytest.mark.parametrize(
    "times",
    [
        [START, START + MINUTE],  # 2024 in ms
        [0, MINUTE, 2 * MINUTE],  # small synthetic times, as tests use: not seconds
        [1_230_768_000_000],  # 2009 in ms
    ],
)
def test_milliseconds_pass(times: list[int]) -> None:
    assert time_unit_problem(np.array(times, dtype=np.int64)) is None
