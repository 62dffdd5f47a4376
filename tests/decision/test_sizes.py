"""core/decision/sizes.py: the sizer is asked once per assignment, again only when its version or
parameters change, and forgotten assignments are asked afresh."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import msgspec

from tradewinds.core.decision.sizes import WindowSizes
from tradewinds.domain.trading import Assignment, ParamValue
from tradewinds.eval.window_sizer import WindowSizer


class CountingSizer(WindowSizer):
    """Sizes by the `fast` parameter, counting the dry runs (none is run for real)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[int, str]] = []

    def cached(self, version_id: int, params_key: str) -> int | None:
        return None

    def size(self, version_id: int, params_key: str, source: str, params: Mapping[str, ParamValue]) -> int:
        self.asked.append((version_id, params_key))
        return 100 + int(params.get("fast", 0))


def assignment(aid: int, version_id: int = 7, **params: ParamValue) -> Assignment:
    return Assignment(
        aid, 1, "s", version_id, 1, "return nil", "sim", "A/USD", "1m", 1, Decimal(1000), params
    )


async def test_asked_once_per_assignment_and_again_on_a_change() -> None:
    sizer = CountingSizer()
    sizes = WindowSizes(sizer)
    try:
        first = assignment(1, fast=5)
        assert [await sizes.of(first) for _ in range(3)] == [105, 105, 105]
        assert await sizes.of(msgspec.structs.replace(first, target="long")) == 105  # same version and params
        assert len(sizer.asked) == 1
        assert await sizes.of(assignment(1, fast=9)) == 109  # its parameters changed
        assert await sizes.of(assignment(1, version_id=8, fast=9)) == 109  # a new version
        assert len(sizer.asked) == 3

        sizes.keep_only({2})
        assert await sizes.of(assignment(1, version_id=8, fast=9)) == 109
        assert len(sizer.asked) == 4  # forgotten, so asked again
    finally:
        sizes.shutdown()
