"""The deadline runner's arming logic on an injected clock and a recording scheduler: no sleeping.

What APScheduler itself does (run a DateTrigger job at its time) is covered by the real-time
tests in test_worker.py; here a fake scheduler records what the runner asks of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlmodel import Session, col, select

from commandpost.core.deadlines import DeadlineKind, DueTime
from commandpost.core.vocabulary import IncidentClass, Severity
from commandpost.scheduling import DeadlineRunner, next_due
from commandpost.scheduling.runner import POLL_JOB, TICK_JOB, arm_time
from commandpost.service import roles, timers
from commandpost.service.context import Context
from commandpost.service.deadlines import Fired
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m
from commandpost.storage.engine import transaction

from .support import START, declare_incident

MIN = timedelta(minutes=1)


class RecordingScheduler:
    """Stands in for APScheduler: keeps the last job per id; runs nothing by itself."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.running = False

    def add_job(self, func: Callable[..., Any], trigger: Any = None, **kwargs: Any) -> None:
        self.jobs[kwargs["id"]] = {"func": func, "trigger": trigger, **kwargs}

    def start(self) -> None:
        self.running = True

    def shutdown(self, wait: bool = True) -> None:
        self.running = False

    @property
    def ticks(self) -> list[str]:
        return [job_id for job_id in self.jobs if job_id.startswith(TICK_JOB)]

    @property
    def tick_at(self) -> Any:
        # The latest arming; earlier tick jobs stay and do nothing when run.
        return self.jobs[self.ticks[-1]]["run_date"]

    def run_tick(self, job_id: str) -> None:
        job = self.jobs[job_id]
        job["func"](*job.get("args", ()))


@pytest.fixture
def sched() -> RecordingScheduler:
    return RecordingScheduler()


@pytest.fixture
def runner(ctx: Context, sched: RecordingScheduler) -> Iterator[DeadlineRunner]:
    made = DeadlineRunner(ctx, scheduler=sched, deliver=False, listen=False)
    made.start()
    yield made
    made.shutdown()


def new_incident(ctx: Context, severity: Severity = Severity.SEV1) -> str:
    return declare_incident(ctx, "Bot leaks order history", IncidentClass.DATA_LEAKAGE, severity)


def add_deadline(ctx: Context, incident_id: str, due_at: Any, subject: str = "probe") -> None:
    with transaction(ctx.engine) as session:
        timers.schedule(
            session, incident_id, DueTime(DeadlineKind.MITIGATION_SLA, subject, 0, due_at)
        )


def test_arm_time() -> None:
    assert arm_time(None, START) is None
    assert arm_time(START + MIN, START) == START + MIN
    assert arm_time(START - MIN, START) == START  # overdue: at once


def test_start_runs_at_once_then_arms_for_the_next_due_time(
    ctx: Context, clock: ManualClock, runner: DeadlineRunner, sched: RecordingScheduler
) -> None:
    assert sched.running and sched.jobs[POLL_JOB]["seconds"] == 30.0
    assert sched.tick_at == START  # started: one pass at once (restart recovery)
    assert runner.run_pending() == []
    assert runner.armed_at is None and next_due(ctx.engine) is None  # nothing pending: no tick
    new_incident(ctx)  # SEV1: acks due in 10 min, mitigation SLA and cadence in 30
    assert runner.armed_at == START + 10 * MIN  # the commit woke the runner
    clock.advance(10 * MIN)
    fired = runner.run_pending()
    assert {f.kind for f in fired} == {"ack"} and len(fired) == 4
    assert runner.armed_at == sched.tick_at == START + 20 * MIN  # the next step of the chain


def test_a_superseded_tick_does_nothing_and_the_current_one_fires(
    ctx: Context, runner: DeadlineRunner, sched: RecordingScheduler, clock: ManualClock
) -> None:
    incident_id = new_incident(ctx)
    runner.run_pending()
    later = sched.ticks[-1]  # armed for the first ack, 10 min out
    add_deadline(ctx, incident_id, START + 3 * MIN)  # sooner: a new arming
    sooner = sched.ticks[-1]
    assert sooner != later and sched.tick_at == START + 3 * MIN
    clock.advance(3 * MIN)
    sched.run_tick(later)  # APScheduler still runs the superseded job: a no-op
    assert next_due(ctx.engine) == START + 3 * MIN
    sched.run_tick(sooner)
    assert next_due(ctx.engine) == START + 10 * MIN  # the probe fired


def test_a_sooner_deadline_wakes_it_early_a_later_one_does_not(
    ctx: Context, runner: DeadlineRunner, sched: RecordingScheduler
) -> None:
    incident_id = new_incident(ctx)
    runner.run_pending()
    assert sched.tick_at == START + 10 * MIN
    add_deadline(ctx, incident_id, START + 3 * MIN)
    assert sched.tick_at == START + 3 * MIN
    add_deadline(ctx, incident_id, START + 5 * MIN)
    assert sched.tick_at == START + 3 * MIN
    add_deadline(ctx, incident_id, START - MIN)  # already due: run now
    assert sched.tick_at == START
    with transaction(ctx.engine) as session:  # rolled back: the runner hears nothing
        timers.schedule(
            session, incident_id, DueTime(DeadlineKind.MITIGATION_SLA, "x", 0, START - 9 * MIN)
        )
        session.rollback()
    assert sched.tick_at == START


def test_safety_poll_and_wake_without_time_run_now(
    ctx: Context, clock: ManualClock, runner: DeadlineRunner, sched: RecordingScheduler
) -> None:
    new_incident(ctx)
    runner.run_pending()
    clock.advance(MIN)
    sched.jobs[POLL_JOB]["func"]()  # what the 30 s interval job calls
    assert sched.tick_at == START + MIN


def test_overdue_deadlines_fire_in_due_order_with_lateness_and_metrics(
    ctx: Context, clock: ManualClock, runner: DeadlineRunner
) -> None:
    new_incident(ctx, Severity.SEV2)  # ack 30 min, mitigation 4 h, cadence 2 h
    before = (
        REGISTRY.get_sample_value("commandpost_deadline_lateness_seconds_count", {"kind": "ack"})
        or 0.0
    )
    clock.advance(timedelta(hours=5))  # the process was down
    fired = runner.run_pending()
    assert [f.due_at for f in fired] == sorted(f.due_at for f in fired)
    assert fired[0].lateness_seconds == timedelta(hours=4, minutes=30).total_seconds()
    acks = [f for f in fired if f.kind == "ack"]
    after = REGISTRY.get_sample_value(
        "commandpost_deadline_lateness_seconds_count", {"kind": "ack"}
    )
    assert after == before + len(acks)
    with Session(ctx.engine) as s:
        rows = s.exec(select(m.Deadline).where(m.Deadline.state == "fired")).all()
        events = s.exec(
            select(m.AuditEvent)
            .where(m.AuditEvent.kind == "deadline.fired")
            .order_by(col(m.AuditEvent.seq))
        ).all()
    assert len(rows) == len(fired) == len(events)
    assert all(r.lateness_seconds is not None and r.lateness_seconds > 0 for r in rows)
    assert runner.run_pending() == []


def test_a_deadline_written_during_a_pass_is_picked_up_by_the_same_pass(
    ctx: Context, clock: ManualClock, sched: RecordingScheduler
) -> None:
    incident_id = new_incident(ctx)
    seen: list[list[Fired]] = []

    def on_fired(batch: list[Fired]) -> None:
        if not seen:  # another request schedules something already due, mid-pass
            add_deadline(ctx, incident_id, clock.now() - MIN, subject="mid-pass")
        seen.append(batch)

    runner = DeadlineRunner(ctx, scheduler=sched, deliver=False, listen=False, on_fired=on_fired)
    runner.start()
    try:
        clock.advance(10 * MIN)
        fired = runner.run_pending()
        assert "mid-pass" in {f.subject for f in fired}
        assert runner.armed_at == START + 20 * MIN
    finally:
        runner.shutdown()


def test_batches_drain_a_backlog_and_acks_stop_the_chain(
    ctx: Context, clock: ManualClock, sched: RecordingScheduler
) -> None:
    incident_id = new_incident(ctx)
    for i in range(7):
        add_deadline(ctx, incident_id, START + timedelta(seconds=i), subject=f"p{i}")
    runner = DeadlineRunner(ctx, scheduler=sched, deliver=True, listen=False, batch=3)
    runner.start()
    try:
        roles.acknowledge(ctx, incident_id, person_id="alice")
        clock.advance(MIN)
        fired = runner.run_pending()
        assert [f.subject for f in fired] == [f"p{i}" for i in range(7)]
        clock.advance(9 * MIN)
        subjects = {f.subject for f in runner.run_pending()}
        assert "incident_commander" not in subjects and len(subjects) == 3
    finally:
        runner.shutdown()
