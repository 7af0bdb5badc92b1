"""Which CPU each of `serve`'s two processes runs on (`COMMANDPOST_PIN_CPUS`, SQLite only).

Both processes are bound by their interpreter lock, so each runs Python on one core at a time
anyway; what the kernel's freedom to move their threads buys is the lock handed between
threads on different cores, and caches refilled at every move. In the burst on two cores
(bench/slack_ack.py, five alternated pairs, the kernel placing them against a CPU each): the
work process's CPU fell from 8.3-8.9 ms a request to 6.3-7.9 ms, channel ready p99 from
3.9-4.7 s (median 4.2 s) to 2.7-4.1 s (median 3.5 s), and the ack p99 from 0.96-1.82x the
bare app's (two of five at 1.5x or over) to 0.56-1.08x. The price: the outbox drained later
after the burst (37-58 s, median 46 s, against 39-41 s), the work process no longer having
the front's idle core; and a pinned process cannot move off its core when something else
keeps that core busy. So it is not done on PostgreSQL, whose server often shares the cores
(two pairs there were mixed: ready p99 6.8 and 7.2 s pinned, 6.5 and 8.1 s not), and on a
crowded host COMMANDPOST_PIN_CPUS=false lets the kernel place them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
_THREADS = Path("/proc/self/task")


@dataclass(frozen=True)
class Placement:
    front: int  # the CPU the acks are served on
    work: int  # the CPU the work process runs on


def placement(allowed: Collection[int] | None = None) -> Placement | None:
    """A CPU each for the front and the work process, out of the CPUs this process may use
    (`allowed`, by default the kernel's answer); None where there are fewer than two or the
    platform cannot pin (only Linux can)."""
    if allowed is None:
        if not hasattr(os, "sched_getaffinity") or not _THREADS.is_dir():
            return None
        allowed = os.sched_getaffinity(0)
    cpus = sorted(allowed)
    if len(cpus) < 2:
        return None
    return Placement(front=cpus[-2], work=cpus[-1])


def for_database(database_url: str) -> Placement | None:
    """`placement()` where the database is SQLite; None on PostgreSQL (see above)."""
    return placement() if database_url.startswith("sqlite") else None


def pin_process(cpus: Collection[int]) -> dict[int, set[int]]:
    """Run every thread of this process on `cpus`, and the threads they start later (which
    inherit it). Returns what each thread had, for `restore`; {} if it could not be done."""
    before: dict[int, set[int]] = {}
    try:
        before[_ANY] = os.sched_getaffinity(0)  # for threads started while pinned
        for tid in _threads():
            try:
                before[tid] = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, cpus)
            except ProcessLookupError:
                continue  # the thread ended meanwhile
    except OSError as exc:
        log.warning("this process keeps running on any CPU: %s", exc)
        restore(before)
        return {}
    return before


def restore(before: dict[int, set[int]]) -> None:
    """Give every thread of this process back what it had before `pin_process`; a thread
    started since gets what the pinning thread had (a server stopped in a longer-lived
    process, such as a test run, leaves none of its threads pinned)."""
    if not before:
        return
    for tid in _threads():
        try:
            os.sched_setaffinity(tid, before.get(tid, before[_ANY]))
        except OSError:
            continue  # ended since


_ANY = -1  # `pin_process`'s key for the CPUs of threads it did not see


def _threads() -> list[int]:
    return [int(entry.name) for entry in _THREADS.iterdir()]
