"""Command-line times: dates, ISO-8601 times and epoch milliseconds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradewinds.domain.times import format_time_ms, parse_time_arg

NEW_YEAR_2024 = 1_704_067_200_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01", NEW_YEAR_2024),
        ("2024-01-01T00:00:00Z", NEW_YEAR_2024),
        ("2024-01-01T12:30", NEW_YEAR_2024 + 45_000_000),
        ("2024-01-01 12:30:00", NEW_YEAR_2024 + 45_000_000),
        ("2024-01-01T14:30:00+02:00", NEW_YEAR_2024 + 45_000_000),
        ("2024-01-01T00:00:00.123Z", NEW_YEAR_2024 + 123),
        ("1704067200000", NEW_YEAR_2024),
        ("  1704067200000 ", NEW_YEAR_2024),
        ("0", 0),
    ],
)
def test_accepted_forms(text: str, expected: int) -> None:
    assert parse_time_arg(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "yesterday", "2024-13-01", "-5", "1.5e12", "2024/01/01"])
def test_other_text_is_refused_naming_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="epoch milliseconds"):
        parse_time_arg(text)


def test_format_time_ms() -> None:
    assert format_time_ms(NEW_YEAR_2024) == "2024-01-01T00:00:00Z"
    assert format_time_ms(NEW_YEAR_2024 + 123) == "2024-01-01T00:00:00.123Z"


@given(st.integers(min_value=0, max_value=4_102_444_800_000))  # 1970 to 2100
def test_formatted_times_parse_back(time_ms: int) -> None:
    assert parse_time_arg(format_time_ms(time_ms)) == time_ms
