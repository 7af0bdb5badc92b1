"""The CPU `serve`'s work process runs on (`COMMANDPOST_PIN_CPUS`, SQLite only).

The work process is bound by its interpreter lock, so it runs Python on one core at a time
anyway; what the kernel's freedom to move its threads buys is the lock handed between
threads on different cores, and caches refilled at every move. The front (the acks) is left
free, so that it can take whichever core is idle, the work process's too when that waits.
Measured in the burst on two cores (bench/slack_ack.py, four alternated rounds, stop 20, the
work process at nice 19 in all three arms; workproc.PINNED_NICE says why pinned it is now 0),
against the kernel placing both processes and against the front pinned to the other CPU as
well (stop 19's way):

    work process CPU a request   5.4-7.4 ms   against 7.8-9.1 ms and 7.1-9.5 ms
    channel ready p99            2.8-3.7 s    against 3.6-5.0 s and 3.3-3.7 s
    outbox drained after burst   31-39 s      against 37-49 s and 32-75 s
    ack p99 / bare app's         0.71-1.35x   against 1.02-1.46x and 0.44-0.97x

The front pinned too acked fastest (p99 12-23 ms against 19-31 ms; the bare app was pinned
in that arm too), but its core then stood idle whenever it had no request, and the work could
not use it. With the work at nice 0, both pinned readied channels sooner (p99 1.6-2.7 s in six
runs) but the ack p99 was 1.96x the bare app's in one of them.

A pinned process cannot move off its core when something else keeps that core busy. So it is
not done on PostgreSQL, whose server often shares the cores (pairs there were mixed), and on
a crowded host COMMANDPOST_PIN_CPUS=false lets the kernel place it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from pathlib import Path

log = logging.getLogger(__name__)
_THREADS = Path("/proc/self/task")


def work_cpu(allowed: Collection[int] | None = None) -> int | None:
    """The CPU for the work process, out of those this process may use (`allowed`, by
    default the kernel's answer): the last, leaving the others to the front. None where
    there are fewer than two (pinned to the only one, the work could not leave the acks a
    core) or the platform cannot pin (only Linux can)."""
    if allowed is None:
        if not hasattr(os, "sched_getaffinity") or not _THREADS.is_dir():
            return None
        allowed = os.sched_getaffinity(0)
    cpus = sorted(allowed)
    return cpus[-1] if len(cpus) >= 2 else None


def for_database(database_url: str) -> int | None:
    """`work_cpu()` where the database is SQLite; None on PostgreSQL (see above)."""
    return work_cpu() if database_url.startswith("sqlite") else None


def pin_process(cpus: Collection[int]) -> bool:
    """Run every thread of this process on `cpus`, and the threads they start later (which
    inherit it). False, with a warning, if it could not be done: the process then runs
    wherever the kernel puts it, which is slower but correct."""
    try:
        # This thread among them: what it starts from now on inherits it.
        for tid in [int(entry.name) for entry in _THREADS.iterdir()]:
            try:
                os.sched_setaffinity(tid, cpus)
            except ProcessLookupError:
                continue  # the thread ended meanwhile
    except OSError as exc:
        log.warning("this process keeps running on any CPU: %s", exc)
        return False
    return True
