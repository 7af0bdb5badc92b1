"""Waking this process's runner when another process schedules a deadline.

PostgreSQL: `timers.note_wake` sends `NOTIFY commandpost_deadlines, '<due time>'` inside the
transaction that writes a deadline; PostgreSQL delivers it at commit, to every listening
replica. SQLite has no notifications: `SqliteChangeWatcher` reads `PRAGMA data_version`, which
changes when any other connection commits, twice a second, and wakes the runner to re-read
the next due time. Without these a process would only notice another's deadline at its next
safety poll.
"""

from __future__ import annotations

import logging
import sqlite3
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


class SqliteChangeWatcher:
    """Calls `on_change(None)` within `every` seconds of a commit by another connection."""

    def __init__(
        self, engine: Engine, on_change: Callable[[datetime | None], None], *, every: float = 0.5
    ) -> None:
        self._path = engine.url.database or ""
        self._on_change = on_change
        self._every = every
        self._conn: sqlite3.Connection | None = None
        self._seen: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deadline-watch", daemon=True)

    def start(self) -> None:
        # The baseline is read before start() returns: a commit made right after must count.
        self._conn = sqlite3.connect(self._path, check_same_thread=False)
        self._seen = self._version()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _version(self) -> int | None:
        assert self._conn is not None
        try:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:
            log.warning("cannot read the database's change counter: %s", exc)
            return None

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._every):
                version = self._version()
                if version is not None and version != self._seen:
                    self._seen = version
                    self._on_change(None)
        finally:
            assert self._conn is not None
            self._conn.close()
