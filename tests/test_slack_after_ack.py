"""Work after an ack: urgent work overtakes queued routine work; stop finishes what was acked."""

from __future__ import annotations

import threading
import time

from commandpost.chat.slack.app import AfterAck
from commandpost.chat.slack.command_types import USAGE
from commandpost.chat.slack.listeners import URGENT


def test_urgent_work_does_not_wait_for_routine_work() -> None:
    pool = AfterAck(threads=1, urgent_threads=1)
    gate = threading.Event()
    done: list[str] = []
    pool.submit(gate.wait)  # holds the only routine thread while notes queue up
    for n in range(3):
        pool.submit(lambda n=n: done.append(f"note {n}"))
    pool.submit(lambda: done.append("declare"), urgent=True)
    pool.submit(lambda: done.append("approve"), urgent=True)
    deadline = time.monotonic() + 5
    while len(done) < 2:  # the urgent work runs while the routine thread is still held
        assert time.monotonic() < deadline, done
        time.sleep(0.01)
    assert done == ["declare", "approve"]
    gate.set()
    pool.stop()
    assert done == ["declare", "approve", "note 0", "note 1", "note 2"]


def test_a_failing_piece_of_work_does_not_stop_the_pool() -> None:
    pool = AfterAck(threads=1, urgent_threads=1)
    done: list[int] = []
    pool.submit(lambda: done.append(1 // 0))
    pool.submit(lambda: done.append(2))
    pool.stop()
    assert done == [2]


def test_urgent_commands_are_real_subcommands() -> None:
    assert URGENT.issubset(USAGE)
    assert {"declare", "contain", "ack"} <= URGENT
    assert not {"note", "timeline", "list", "help"} & URGENT
