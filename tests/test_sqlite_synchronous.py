"""SQLite's commit durability is chosen in the URL: NORMAL by default, FULL on request."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from commandpost.errors import InvalidInput
from commandpost.storage.engine import make_engine
from commandpost.storage.migrate import upgrade

LEVELS = {0: "off", 1: "normal", 2: "full", 3: "extra"}


def synchronous(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return LEVELS[int(conn.execute(text("PRAGMA synchronous")).scalar_one())]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("query", "expected"),
    [("", "normal"), ("?synchronous=full", "full"), ("?synchronous=EXTRA", "extra")],
)
def test_the_url_sets_how_hard_a_commit_is_flushed(
    tmp_path: Path, query: str, expected: str
) -> None:
    url = f"sqlite:///{tmp_path / 'cp.db'}{query}"
    upgrade(url)  # migrations accept the same URL
    assert synchronous(url) == expected


def test_an_unknown_level_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"synchronous='off'.*normal, full, extra"):
        make_engine(f"sqlite:///{tmp_path / 'cp.db'}?synchronous=off")


def test_sqlite_writers_of_one_process_take_turns_in_arrival_order() -> None:
    import threading
    import time

    from commandpost.storage.engine import _WriterQueue

    queue = _WriterQueue()
    order: list[int] = []
    threads = []
    with queue.turn():  # held: everyone below queues behind it
        for n in range(6):

            def write(n: int = n) -> None:
                with queue.turn():
                    order.append(n)

            thread = threading.Thread(target=write)
            thread.start()
            threads.append(thread)
            deadline = time.monotonic() + 5
            while len(queue._lines[0]) < n + 1:  # wait until it is in line: arrival is known
                assert time.monotonic() < deadline
                time.sleep(0.001)
    for thread in threads:
        thread.join(5)
    assert order == list(range(6))


def test_urgent_writers_go_ahead_of_routine_ones_waiting() -> None:
    """Urgent writes (a declaration, opening the channel of an earlier one) first, then
    routine ones; first come first served within each."""
    import threading
    import time
    from contextlib import nullcontext

    from commandpost.storage.engine import _WriterQueue, urgent_writes

    queue = _WriterQueue()
    order: list[str] = []
    threads = []

    def write(name: str, urgent: bool) -> None:
        with urgent_writes() if urgent else nullcontext(), queue.turn():
            order.append(name)

    waiting = (
        ("note 1", False),
        ("open channel 1", True),
        ("note 2", False),
        ("declare 1", True),
        ("open channel 2", True),
        ("declare 2", True),
    )
    with queue.turn():
        for name, urgent in waiting:
            thread = threading.Thread(target=write, args=(name, urgent))
            thread.start()
            threads.append(thread)
            deadline = time.monotonic() + 5
            while sum(len(line) for line in queue._lines) < len(threads):
                assert time.monotonic() < deadline
                time.sleep(0.001)
    for thread in threads:
        thread.join(5)
    assert order == [
        "open channel 1",
        "declare 1",
        "open channel 2",
        "declare 2",
        "note 1",
        "note 2",
    ]
