"""Helpers for tests of writes that share transactions (storage.group_commit)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event

from commandpost.storage.engine import _WRITERS, transaction


@contextmanager
def writer_held(engine: Engine) -> Iterator[Callable[[], None]]:
    """This process's database writer turn taken by another thread until `release()` (it
    touches no table, so it commits nothing)."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction(engine):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    try:
        yield release.set
    finally:
        release.set()
        holder.join(10)


def wait_until(check: Callable[[], bool], what: str = "timed out") -> None:
    """Until `check()` holds; fails with `what` after 10 seconds."""
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def waiting_for_writer(engine: Engine) -> int:
    """Threads of this process waiting for `engine`'s writer turn."""
    return sum(len(line) for line in _WRITERS[engine]._lines)


def commits_of(engine: Engine) -> list[int]:
    """A list that grows by one at every commit made on `engine` from now on."""
    seen: list[int] = []
    event.listen(engine, "commit", lambda _conn: seen.append(1))
    return seen
