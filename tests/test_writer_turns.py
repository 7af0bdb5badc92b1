"""The writers of one process take turns, urgent first, on both databases.

On SQLite the turn stands in for SQLite's polling write lock; on PostgreSQL for the audit
chain's advisory lock, which is granted first come first served (storage.engine).
"""

from __future__ import annotations

import threading
from contextlib import nullcontext

from sqlmodel import col, select

from commandpost.service.ports import SystemClock
from commandpost.storage import models as m
from commandpost.storage.engine import make_engine, transaction, urgent_writes

from .writersupport import wait_until, waiting_for_writer


def test_a_declaration_goes_ahead_of_notes_waiting_on_either_database(db_url: str) -> None:
    engine = make_engine(db_url)
    clock = SystemClock()
    waiting = (
        ("note-1", False),
        ("open-1", True),
        ("note-2", False),
        ("declare-1", True),
        ("declare-2", True),
    )

    def write(name: str, urgent: bool) -> None:
        with urgent_writes() if urgent else nullcontext(), transaction(engine) as session:
            # Stamped once the turn is taken: the stamps give the order the turns came in.
            session.add(m.SlackEvent(event_id=name, received_at=clock.now()))

    threads: list[threading.Thread] = []
    try:
        with transaction(engine) as holding:  # the turn is taken: the writes below queue
            holding.add(m.SlackEvent(event_id="first", received_at=clock.now()))
            for name, urgent in waiting:
                thread = threading.Thread(target=write, args=(name, urgent))
                thread.start()
                threads.append(thread)
                # In line before the next one comes.
                wait_until(
                    lambda: waiting_for_writer(engine) >= len(threads),
                    "a writer never queued for its turn",
                )
        for thread in threads:
            thread.join(10)
        with transaction(engine) as session:
            rows = session.exec(select(m.SlackEvent).order_by(col(m.SlackEvent.received_at))).all()
    finally:
        engine.dispose()
    assert [r.event_id for r in rows] == [
        "first",
        "open-1",
        "declare-1",
        "declare-2",
        "note-1",
        "note-2",
    ]
