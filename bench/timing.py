"""Timing helpers the benchmarks share: the collector kept out of what is timed."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def collector_off() -> Iterator[None]:
    """Collect first, then no collection until the block ends: a pause of the benchmark's own
    collector is not the latency or the rate of what it measures."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """The fastest of `repeats` runs, in seconds, with the collector off while timing."""
    best = float("inf")
    for _ in range(repeats):
        with collector_off():
            began = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - began)
    return best
