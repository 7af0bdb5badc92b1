"""The deadline runner: APScheduler wakes it at the next due time read from the database.

The database is the one source of truth. One `DateTrigger` job is armed for the earliest
pending due time; each run fires what is due (`service.deadlines.fire_due`), delivers the
outbox, and re-arms for the next due time. Two things wake it sooner:

- a commit in this process that scheduled a deadline due before the armed time
  (`timers.schedule` notes the earliest due time on the session; a commit listener reads it);
- on PostgreSQL, a NOTIFY sent by the transaction that wrote a deadline in another process
  or replica (`listen.py`);
- on SQLite, a commit by another process (`listen.SqliteChangeWatcher`, within half a second);
- a slow safety poll (every 30 s by default), in case a notification was lost (the listening
  connection dropped).

On start it runs at once, so everything that fell due while no runner was up fires then, in
due order, with its lateness recorded (restart recovery).

Claims: `fire_due` fires each deadline in its own transaction. On PostgreSQL it locks the row
with `FOR UPDATE SKIP LOCKED` inside the transaction that marks it fired, records the audit
event and queues the effects. The claim is the row lock, which lives exactly as long as that
transaction: if the process dies mid-fire its connection drops, PostgreSQL rolls the
transaction back and releases the lock, and the next pass of any replica fires the deadline.
So no lease with an expiry is needed (nor could a lease outlive the work it protects). On
SQLite every write transaction starts with `BEGIN IMMEDIATE`, so one writer fires at a time.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import col, select

from commandpost.scheduling import metrics
from commandpost.scheduling.listen import NotifyListener, SqliteChangeWatcher
from commandpost.service import outbox, timers
from commandpost.service.context import Context
from commandpost.service.deadlines import Fired, fire_due
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction

log = logging.getLogger(__name__)

TICK_JOB = "commandpost.deadlines.tick"
POLL_JOB = "commandpost.deadlines.poll"
RETRY_AFTER_ERROR = timedelta(seconds=5)


class JobScheduler(Protocol):
    """The part of APScheduler's scheduler the runner uses (a fake stands in for tests)."""

    def add_job(self, func: Callable[..., Any], trigger: Any = None, **kwargs: Any) -> Any: ...

    def start(self) -> None: ...

    def shutdown(self, wait: bool = True) -> None: ...


def next_due(engine: Engine) -> datetime | None:
    """The earliest pending due time, or None when nothing is pending."""
    with read_transaction(engine) as session:
        return session.exec(
            select(m.Deadline.due_at)
            .where(m.Deadline.state == "pending")
            .order_by(col(m.Deadline.due_at))
            .limit(1)
        ).first()


def arm_time(due_at: datetime | None, now: datetime) -> datetime | None:
    """When to run next: at the due time, at once when it is already due, never when none."""
    if due_at is None:
        return None
    return max(due_at, now)


class DeadlineRunner:
    """Fires due deadlines when they fall due; `start()`, `wake()`, `shutdown()`."""

    def __init__(
        self,
        ctx: Context,
        *,
        scheduler: JobScheduler | None = None,
        safety_poll: float = 30.0,
        batch: int = 100,
        per_transaction: int = 50,  # one audit-chain lock and commit for up to 50 firings
        deliver: bool = True,
        listen: bool = True,
        on_fired: Callable[[list[Fired]], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.safety_poll = safety_poll
        self.batch = batch
        self.per_transaction = per_transaction
        self.deliver = deliver
        self.listen = listen
        self.on_fired = on_fired
        self._scheduler: JobScheduler = scheduler or _background_scheduler()
        self._lock = threading.Lock()  # guards the fields below
        self._run_lock = threading.Lock()  # one pass at a time
        self._armed_at: datetime | None = None
        self._running = False
        self._dirty = False
        self._started = False
        self._notify: NotifyListener | SqliteChangeWatcher | None = None
        self._listener = self._after_commit  # one bound method: event.remove needs the same
        self._arms = itertools.count(1)
        self._arming = 0  # the current arming; earlier tick jobs are no-ops

    @property
    def armed_at(self) -> datetime | None:
        return self._armed_at

    def start(self) -> None:
        """Start the scheduler and run at once: whatever is overdue fires now."""
        event.listen(OrmSession, "after_commit", self._listener)
        self._scheduler.add_job(
            self.wake,
            "interval",
            seconds=self.safety_poll,
            id=POLL_JOB,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
        self._started = True
        self._scheduler.start()
        # Listening starts before the first pass, so nothing written in between is missed.
        if self.listen and self.ctx.engine.dialect.name == "postgresql":
            self._notify = NotifyListener(self.ctx.engine, self.wake)
            self._notify.start()
        elif self.listen and self.ctx.engine.url.database not in (None, "", ":memory:"):
            self._notify = SqliteChangeWatcher(self.ctx.engine, self.wake)
            self._notify.start()
        self.wake()

    def shutdown(self, wait: bool = True) -> None:
        """Stop waking; with `wait`, let a pass in progress finish (its transactions commit)."""
        if not self._started:
            return
        self._started = False
        if self._notify is not None:
            self._notify.stop()
            self._notify = None
        if event.contains(OrmSession, "after_commit", self._listener):
            event.remove(OrmSession, "after_commit", self._listener)
        self._scheduler.shutdown(wait=wait)

    def wake(self, at: datetime | None = None) -> None:
        """Run at `at` (default now) if that is sooner than the armed time."""
        with self._lock:
            if self._running:
                self._dirty = True  # the pass in progress reads the next due time again
                return
            if at is None or self._armed_at is None or at < self._armed_at:
                self._arm(arm_time(at or self.ctx.now(), self.ctx.now()))

    def run_pending(self) -> list[Fired]:
        """One pass: fire everything due, deliver, re-arm for the next due time."""
        with self._run_lock:
            with self._lock:
                self._running = True
            fired: list[Fired] = []
            try:
                while True:
                    with self._lock:
                        self._dirty = False
                    batch = fire_due(
                        self.ctx, limit=self.batch, per_transaction=self.per_transaction
                    )
                    fired.extend(batch)
                    self._record(batch)
                    if len(batch) >= self.batch:
                        continue  # more may be due; deliver after the backlog
                    if self.deliver and fired:
                        outbox.deliver(self.ctx)
                    upcoming = next_due(self.ctx.engine)
                    with self._lock:
                        if self._dirty:
                            continue
                        self._running = False
                        self._arm(arm_time(upcoming, self.ctx.now()))
                        return fired
            except Exception:
                log.exception("deadline pass failed; retrying in %s", RETRY_AFTER_ERROR)
                with self._lock:
                    self._running = False
                    self._arm(self.ctx.now() + RETRY_AFTER_ERROR)
                return fired

    def _record(self, batch: list[Fired]) -> None:
        if not batch:
            return
        metrics.observe(batch)
        for one in batch:
            log.info(
                "fired deadline %s (%s %s step %s) for %s, %.3f s late: %s",
                one.deadline_id,
                one.kind,
                one.subject,
                one.step,
                one.incident_id,
                one.lateness_seconds,
                one.outcome,
            )
        if self.on_fired is not None:
            self.on_fired(batch)

    def _arm(self, at: datetime | None) -> None:
        """Point the tick at `at` (None: wait for the safety poll or a wake).

        Each arming is a new job with an id of its own; the arming it replaces stays
        scheduled and does nothing when it runs (`_tick`). Re-using one id raced APScheduler,
        which removes a date job by id just after submitting it: a re-arming made by that
        run could be removed with it (a lost wake until the poll). Removing the replaced job
        ourselves races the same way, the other way round.
        """
        self._armed_at = at
        if at is None or not self._started:
            return
        self._arming = next(self._arms)
        self._scheduler.add_job(
            self._tick,
            "date",
            args=(self._arming,),
            run_date=at,
            id=f"{TICK_JOB}.{self._arming}",
            misfire_grace_time=None,  # late is better than never
            coalesce=True,
            max_instances=1,
        )

    def _tick(self, arming: int) -> None:
        if arming == self._arming:
            self.run_pending()

    def _after_commit(self, session: OrmSession) -> None:
        if session.get_bind() is not self.ctx.engine:
            return
        at = session.info.pop(timers.WAKE_AT, None)
        session.info.pop(timers.WAKE_TX, None)
        if at is not None:
            self.wake(at)


def _background_scheduler() -> JobScheduler:
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler: JobScheduler = BackgroundScheduler(timezone="UTC", daemon=True)
    return scheduler


def start_runner(ctx: Context, **options: Any) -> DeadlineRunner:
    """Start a runner in this process (`serve`, `worker`); call `.shutdown()` to stop it."""
    runner = DeadlineRunner(ctx, **options)
    runner.start()
    return runner
