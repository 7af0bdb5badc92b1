"""Work after an ack: urgent work overtakes queued routine work; one incident's commands run
in the order acked; stop finishes what was acked."""

from __future__ import annotations

import random
import threading
import time

from commandpost.chat.slack.after_ack import AfterAck
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


def test_work_of_one_key_runs_in_the_order_given_one_at_a_time() -> None:
    pool = AfterAck(threads=4, urgent_threads=1)
    done: list[int] = []
    running: list[int] = []
    overlaps: list[int] = []
    rng = random.Random(7)

    def step(n: int, pause: float) -> None:
        running.append(n)
        if len(running) > 1:
            overlaps.append(n)
        time.sleep(pause)  # long enough that a free thread would overtake it
        done.append(n)
        running.remove(n)

    for n in range(40):
        pool.submit(lambda n=n, p=rng.uniform(0, 0.004): step(n, p), key="INC-2026-0001")
    pool.stop()
    assert done == list(range(40))
    assert overlaps == []


def test_work_of_other_keys_does_not_wait() -> None:
    pool = AfterAck(threads=2, urgent_threads=1)
    held = threading.Event()
    done: list[str] = []
    pool.submit(held.wait, key="INC-2026-0002")
    pool.submit(lambda: done.append("busy, second"), key="INC-2026-0002")
    pool.submit(lambda: done.append("other"), key="INC-2026-0003")
    deadline = time.monotonic() + 5
    while not done:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert done == ["other"]  # the held key's second piece waits; another key's does not
    held.set()
    pool.stop()
    assert done == ["other", "busy, second"]
