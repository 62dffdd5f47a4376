"""Every Lua example in docs/strategies.md runs on real candles without error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.strategy import run_over_history

ROOT = Path(__file__).parents[2]
EXAMPLES = re.findall(r"```lua\n(.*?)```", (ROOT / "docs" / "strategies.md").read_text(), re.S)


def test_the_page_has_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("source", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_example_runs(source: str) -> None:
    candles = read_candle_csv(ROOT / "data" / "bitfinex_tBTCUSD_1h_2013-10.csv")
    run = run_over_history(source, candles, {"fast": 8, "slow": 21})
    assert len(run.decisions) == len(candles)
    assert (run.decisions != 0).any()
