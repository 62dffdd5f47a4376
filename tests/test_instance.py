"""One core per data folder: the second holder is refused with the first one named, and a holder
killed with -9 frees the folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tradewinds.instance import AlreadyRunning, exclusive

HOLD = """
import sys, time
from pathlib import Path
from tradewinds.instance import exclusive
with exclusive(Path(sys.argv[1]), "core", "tradewinds up"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_holder_is_refused_and_named(tmp_path: Path) -> None:
    with exclusive(tmp_path, "core", "tradewinds up"):
        with pytest.raises(AlreadyRunning) as refused, exclusive(tmp_path, "core", "tradewinds core"):
            pass
        message = str(refused.value)
        assert f"tradewinds up is already running on the data folder {tmp_path}" in message
        assert f"pid {os.getpid()}" in message and "since 20" in message
    with exclusive(tmp_path, "core"):  # released on exit
        pass


def test_a_killed_holder_frees_the_folder(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(AlreadyRunning, match=f"pid {holder.pid} "), exclusive(tmp_path, "core"):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with exclusive(tmp_path, "core"):
        pass
