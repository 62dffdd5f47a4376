"""Times as users type them on the command line, and as Tradewinds prints them back.

Everything inside Tradewinds is UTC epoch milliseconds; these convert at the edges.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FORMS = "a date (2024-01-01), an ISO-8601 time (2024-01-01T12:00:00Z) or epoch milliseconds"


def parse_time_arg(text: str) -> int:
    """Epoch milliseconds from a date, an ISO-8601 time or epoch milliseconds.

    A date means midnight UTC; a time without an offset is UTC. Raises ValueError naming the
    text and the accepted forms.
    """
    cleaned = text.strip()
    if not cleaned:
        raise ValueError(f"empty time: use {_FORMS}")
    if cleaned.isdigit():
        return int(cleaned)
    try:
        moment = datetime.fromisoformat(cleaned.replace(" ", "T", 1))
    except ValueError:
        raise ValueError(f"{text!r} is not a time: use {_FORMS}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # Whole milliseconds through integer arithmetic: float seconds would round some times down.
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_time_ms(time_ms: int) -> str:
    """ISO-8601 UTC text for an epoch-millisecond time, e.g. `2024-01-01T00:00:00Z`."""
    moment = _EPOCH + timedelta(milliseconds=time_ms)
    if time_ms % 1000:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
