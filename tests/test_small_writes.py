"""Small writes made at the same moment share a transaction, urgent ones apart from routine
ones, and a write that fails fails alone; on both databases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import nullcontext

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from commandpost.storage import small_writes
from commandpost.storage.engine import make_engine, urgent_writes

from .writersupport import commits_of, wait_until, waiting_for_writer, writer_held

SCRATCH = Table(
    "scratch_small_writes",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(40), unique=True, nullable=False),
    Column("seen", Integer, nullable=False, default=0),
)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    SCRATCH.create(engine, checkfirst=True)
    try:
        yield engine
    finally:
        SCRATCH.drop(engine)
        engine.dispose()


def queued(engine: Engine, *, urgent: bool = False) -> int:
    return small_writes.COMMITS.commits(engine, urgent=urgent).waiting()


def rows(engine: Engine) -> dict[str, tuple[int, int]]:
    with engine.connect() as db:
        found = db.execute(select(SCRATCH.c.name, SCRATCH.c.id, SCRATCH.c.seen)).all()
    return {name: (row_id, seen) for name, row_id, seen in found}


def start(
    engine: Engine, name: str, results: dict[str, object], *, urgent: bool = False
) -> threading.Thread:
    """A thread that inserts `name` and then marks it seen, in one call."""

    def write() -> None:
        try:
            with urgent_writes() if urgent else nullcontext():
                results[name] = small_writes.write(
                    engine,
                    (insert(SCRATCH), {"name": name, "seen": 0}),
                    (update(SCRATCH).where(SCRATCH.c.name == name).values(seen=1), {}),
                )
        except Exception as exc:
            results[name] = exc

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_writes_made_together_share_a_transaction(engine: Engine) -> None:
    commits = commits_of(engine)
    results: dict[str, object] = {}
    with writer_held(engine) as release:
        threads = [start(engine, "first", results)]
        wait_until(lambda: waiting_for_writer(engine) == 1)  # it leads, alone, and waits
        threads += [start(engine, f"w{n}", results) for n in range(5)]
        wait_until(lambda: queued(engine) == 5)
        release()
        for thread in threads:
            thread.join(10)
    # Each call's statements ran in order, and each caller got its own rowcounts (an
    # INSERT's count is driver-dependent: PostgreSQL's reports -1).
    assert {name: counts[1] for name, counts in results.items()} == dict.fromkeys(
        ["first", "w0", "w1", "w2", "w3", "w4"], 1
    )
    assert {name: seen for name, (_, seen) in rows(engine).items()} == dict.fromkeys(results, 1)
    # Two transactions for six calls: the first alone, the five that queued behind it.
    assert len(commits) == 2


def test_urgent_writes_do_not_wait_in_a_routine_batch(engine: Engine) -> None:
    results: dict[str, object] = {}
    with writer_held(engine) as release:
        threads = [start(engine, "routine-lead", results)]
        wait_until(lambda: waiting_for_writer(engine) == 1)
        threads += [start(engine, "routine-next", results)]
        wait_until(lambda: queued(engine) == 1)
        threads += [start(engine, "urgent", results, urgent=True)]
        wait_until(lambda: waiting_for_writer(engine) == 2)  # its own batch, at the writer
        release()
        for thread in threads:
            thread.join(10)
    order = sorted(rows(engine), key=lambda name: rows(engine)[name][0])
    # Urgent first, though it came last: in the routine batch it would have gone second.
    assert order == ["urgent", "routine-lead", "routine-next"]


def test_a_write_that_fails_in_a_batch_fails_alone(engine: Engine) -> None:
    results: dict[str, object] = {}
    start(engine, "taken", results).join(10)
    with writer_held(engine) as release:
        threads = [start(engine, "first", results)]
        wait_until(lambda: waiting_for_writer(engine) == 1)
        threads += [start(engine, name, results) for name in ("a", "taken", "b")]
        wait_until(lambda: queued(engine) == 3)
        release()
        for thread in threads:
            thread.join(10)
    assert isinstance(results.pop("taken"), IntegrityError)
    assert {name: counts[1] for name, counts in results.items()} == dict.fromkeys(
        ("first", "a", "b"), 1
    )
    assert sorted(rows(engine)) == ["a", "b", "first", "taken"]
