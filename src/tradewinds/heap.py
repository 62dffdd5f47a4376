"""The garbage collector tuned for services that hold a large heap for hours.

The decision service keeps 10,000 assignments with their sources and parameters; each wave of
closes allocates many objects that live a little while (requests, replies, records), and CPython
runs a full collection, walking the whole heap, every 10 collections of the middle generation.
Under load that came two or three times a minute, on the path from a close to its decisions. In
`benchmarks/decision.py` (one run, 5 waves of 200 closes each way), collecting took 0.56 s with
the default and 0.26 s with full collections 10 times rarer: about 60 ms of CPU a wave, less than
the waves' own times vary on this machine (1.3 to 1.7 s), but taken from the busiest process.
Young objects are still collected as often as before; a full collection waits for 100 collections
of the middle generation, and (CPython's own rule) for the objects promoted since the last one to
be a quarter of those it kept.
"""

from __future__ import annotations

import gc

FULL_AFTER = 100  # middle-generation collections between full ones (CPython's default: 10)


def tune_collector() -> None:
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_AFTER)
