"""What the processes `serve` spawns (the work process, the opener process) share: how they
lower their priority, their interpreter's switch interval, and how they read their pipe."""

from __future__ import annotations

import logging
import os
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)
SWITCH_INTERVAL = 0.001  # seconds: the spawned processes' interpreter switch interval


def lower_priority(nice: int) -> None:
    """Acks first: where the two processes want the same core, the served process gets it.

    Slack gives an ack 3 seconds and a responder waits on it; the work after it can wait a
    little. In a burst on two cores (bench/slack_ack.py) the work process at the served
    process's priority pushed the ack p99 to 1.73x a bare Bolt app's; at nice 19 it was
    1.07-1.12x in three runs, while channel ready p99 stayed 5.1-5.4 s in two of them (7.4 s
    in the third). A niceness only weighs when the cores are busy: on an idle machine the
    work runs as fast as before."""
    if nice <= 0 or not hasattr(os, "nice"):
        return
    try:
        os.nice(nice)
    except OSError as exc:
        log.warning("this process keeps its priority: %s", exc)


def receive(conn: Connection) -> tuple[Any, ...] | None:
    try:
        message: tuple[Any, ...] | None = conn.recv()
    except (EOFError, OSError):
        return None  # the other end is gone: finish what was handed over, as on a stop
    return message
