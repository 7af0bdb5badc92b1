"""Engines and transactions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session

from commandpost.errors import InvalidInput

_READ_ONLY = "commandpost_read_only"


SQLITE_SYNCHRONOUS = ("normal", "full", "extra")


def make_engine(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            parsed = make_url(url)
            synchronous = str(parsed.query.get("synchronous", "normal")).lower()
            if synchronous not in SQLITE_SYNCHRONOUS:
                raise InvalidInput(
                    f"cannot use database URL: synchronous={synchronous!r}; "
                    f"choose one of {', '.join(SQLITE_SYNCHRONOUS)}"
                )
            engine = create_engine(
                parsed.difference_update_query(["synchronous"]),
                connect_args={"timeout": 30, "check_same_thread": False},
            )
            _serialise_sqlite_writers(engine, synchronous=synchronous)
            _WRITERS[engine] = _WriterQueue()
            return engine
        engine = create_engine(url, pool_pre_ping=True)
        # Writes that append to the audit chain take one advisory lock (lock_audit_chain),
        # granted first come first served, and a holder waiting for the interpreter keeps it
        # idle: with a dozen threads writing, a declaration queued behind every note (the
        # burst in bench/slack_ack.py --postgres: recorded 12-14 s after sending, 1.2-1.4 s
        # with this queue). So this process's writers take turns here too, urgent first.
        _WRITERS[engine] = _WriterQueue()
        return engine
    except (ArgumentError, ModuleNotFoundError) as exc:
        raise InvalidInput(f"cannot use database URL: {exc}") from None


def _serialise_sqlite_writers(engine: Engine, *, synchronous: str) -> None:
    """Start every SQLite transaction with BEGIN IMMEDIATE.

    pysqlite begins lazily at the first write, so two connections could both read a gate as
    pending and then both write. Taking the write lock at BEGIN serialises them, which is what
    makes "executes exactly once" hold on SQLite too.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit is durable against a crash of the process, and the
        # database stays consistent after a power cut, which may lose the last commits; it
        # saves an fsync per commit (3.8 ms here, most of a busy burst). `?synchronous=full`
        # in the URL makes every commit survive a power cut too.
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Reads (read_transaction) take no write lock, so they never queue behind writers.
        deferred = conn.get_execution_options().get(_READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


class _WriterQueue:
    """This process's writers take turns here, first come first served within a priority
    (`urgent_writes`), before asking the database for its lock (SQLite's write lock;
    PostgreSQL's audit-chain lock, see make_engine).

    SQLite hands its write lock over by polling: a writer that finds it taken sleeps (1 ms,
    then 2, 5, ... up to 100 ms) and tries again, so with a dozen threads writing, the lock
    sits free while they sleep and a short transaction can wait a tenth of a second for its
    turn. Threads of one process queue here instead and each commit hands the turn straight to
    the next in line (a plain mutex would not: the thread that just released it often takes it
    again, and an unlucky writer, say a declaration, can wait seconds behind a busy outbox).
    Other processes still meet the database's own lock.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        # Routine writers, then urgent ones (`urgent_writes`): the last line is served first.
        self._lines: tuple[deque[threading.Event], ...] = (deque(), deque())
        self._held = False
        self._owner: int | None = None

    @contextmanager
    def turn(self) -> Iterator[None]:
        me = threading.get_ident()
        if self._owner == me:
            # A second write transaction in the same thread: the database decides (SQLite
            # waits out its timeout and refuses; PostgreSQL runs both), as without this queue.
            yield
            return
        with self._mutex:
            ticket = None
            if self._held:
                ticket = threading.Event()
                self._lines[1 if _URGENT.get() else 0].append(ticket)
            else:
                self._held = True
        if ticket is not None:
            ticket.wait()  # set by the writer before us, who hands the turn over held
        self._owner = me
        try:
            yield
        finally:
            self._owner = None
            with self._mutex:
                line = next((line for line in reversed(self._lines) if line), None)
                if line is not None:
                    line.popleft().set()
                else:
                    self._held = False


_URGENT: ContextVar[bool] = ContextVar("commandpost_urgent_writes", default=False)


@contextmanager
def urgent_writes() -> Iterator[None]:
    """Writes made inside go ahead of routine ones waiting for this process's writer turn:
    declaring an incident and opening its channel should not queue behind a burst of notes.

    Between urgent writers, first come, first served: a channel opening that follows an
    earlier declaration goes before a later declaration. With every declaration ahead of
    every opening (stop 20's order) the declarations were recorded sooner and the channels
    opened later (stop 21, bench/slack_ack.py alternated, routine work waiting for both as
    chat/slack/precedence.py has it: channel ready p50 2.0-2.7 s in six runs against
    1.6-2.3 s in nine in this order; p99 2.2-2.8 s, median 2.45 s, against 1.9-3.0 s,
    median 2.5 s; taken while most of the bench's notes were refused at their ack, see
    chat/slack/channel_setup.py)."""
    token = _URGENT.set(True)
    try:
        yield
    finally:
        _URGENT.reset(token)


def writes_are_urgent() -> bool:
    """Whether this thread's writes are `urgent_writes` here."""
    return _URGENT.get()


_WRITERS: weakref.WeakKeyDictionary[Engine, _WriterQueue] = weakref.WeakKeyDictionary()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll everything back on any error."""
    queue = _WRITERS.get(engine)
    turn = queue.turn() if queue is not None else nullcontext()
    with turn, Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


_AUDIT_LOCKED = "commandpost.audit_locked"


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Session]:
    """A unit of work that only reads: on SQLite it starts without taking the write lock.

    Writing in it is a bug: SQLite would upgrade the lock mid-transaction, which is exactly
    the race BEGIN IMMEDIATE exists to prevent.
    """
    options = engine.execution_options(**{_READ_ONLY: True})
    # Closing (not rolling back) ends the transaction and keeps loaded rows readable.
    with Session(options, expire_on_commit=False) as session:
        yield session


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """`read_transaction` for Core statements: no Session is built (on a path read for every
    message sent, the Session cost more than the query)."""
    with engine.execution_options(**{_READ_ONLY: True}).connect() as conn, conn.begin():
        yield conn


def lock_audit_chain(session: Session) -> None:
    """Serialise appends to the audit chain (PostgreSQL); SQLite already serialises writers."""
    if session.get_bind().dialect.name != "postgresql":
        return
    # Held until the transaction ends: take it once per transaction, not once per event.
    current = session.get_transaction()
    if current is not None and session.info.get(_AUDIT_LOCKED) is current:
        return
    session.execute(text("SELECT pg_advisory_xact_lock(7431001)"))
    session.info[_AUDIT_LOCKED] = session.get_transaction()
