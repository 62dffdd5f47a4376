"""A history run interrupted with its job in flight must not answer the next run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.strategy import history, run_over_history

DATA = Path(__file__).parents[2] / "data"


def test_an_interrupted_run_leaves_no_stale_payload(monkeypatch: pytest.MonkeyPatch) -> None:
    candles = read_candle_csv(DATA / "bitfinex_tBTCUSD_1h_2013-10.csv")
    real = history._supervise

    def interrupted(*args: Any) -> Any:
        monkeypatch.setattr(history, "_supervise", real)
        raise KeyboardInterrupt  # as Ctrl-C in select(), the job still running in the worker

    monkeypatch.setattr(history, "_supervise", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_over_history('return "long"', candles)
    after = run_over_history('return "short"', candles)
    assert np.all(after.decisions == -1)
