"""PostgreSQL LISTEN: wake this process's runner when another process schedules a deadline.

`timers.note_wake` sends `NOTIFY commandpost_deadlines, '<due time>'` inside the transaction
that writes a deadline; PostgreSQL delivers it at commit, to every listening replica. Without
it a replica would only notice that deadline at its next safety poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

import psycopg
from sqlalchemy import Engine

from commandpost.service.timers import NOTIFY_CHANNEL

log = logging.getLogger(__name__)
RECONNECT_AFTER = 5.0


class NotifyListener:
    def __init__(self, engine: Engine, on_due: Callable[[datetime | None], None]) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._on_due = on_due
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deadline-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self._on_due(None)  # (re)connected: anything written meanwhile is read now
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._on_due(_parse(note.payload))
            except psycopg.Error as exc:
                log.warning("deadline LISTEN connection lost (%s); reconnecting", exc)
                self._stop.wait(RECONNECT_AFTER)


def _parse(payload: str) -> datetime | None:
    try:
        return datetime.fromisoformat(payload)
    except ValueError:
        return None
