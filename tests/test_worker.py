"""The runner in real time: APScheduler wakes it, worker processes are killed and restarted.

These use the wall clock with deadlines a few seconds out, so they are kept few.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from commandpost.chat.console import ConsoleChat
from commandpost.core.deadlines import DeadlineKind, DueTime
from commandpost.core.policy import Policy
from commandpost.core.vocabulary import IncidentClass, Severity
from commandpost.runtime import build_context
from commandpost.scheduling import start_runner
from commandpost.service import deadlines, timers
from commandpost.service.context import Context
from commandpost.service.ports import SystemClock
from commandpost.storage import models as m
from commandpost.storage.engine import transaction

from .support import POLICY_FILE, declare_incident


@pytest.fixture
def live(db_url: str, policy: Policy) -> Iterator[Context]:
    """A context on the wall clock."""
    clock = SystemClock()
    made = build_context(database_url=db_url, policy=policy, clock=clock, chat=ConsoleChat(clock))
    yield made
    made.engine.dispose()


def now() -> datetime:
    return datetime.now(UTC)


def add_probes(ctx: Context, due: list[datetime]) -> list[int]:
    """Pending deadlines at the given times, spread over a few incidents; their ids."""
    incidents = [
        declare_incident(ctx, f"Probe {i}", IncidentClass.FUNCTIONAL, Severity.SEV3)
        for i in range(min(5, len(due)))
    ]
    with transaction(ctx.engine) as session:
        rows = [
            timers.schedule(
                session,
                incidents[i % len(incidents)],
                DueTime(DeadlineKind.MITIGATION_SLA, f"probe-{i}", 0, at),
            )
            for i, at in enumerate(due)
        ]
        session.flush()
        return [r.id for r in rows if r.id is not None]


def rows(ctx: Context, ids: list[int]) -> list[m.Deadline]:
    with Session(ctx.engine) as s:
        return list(
            s.exec(select(m.Deadline).where(col(m.Deadline.id).in_(ids)).order_by(m.Deadline.id))
        )


def fired_events(ctx: Context) -> Counter[int]:
    """How many `deadline.fired` audit events name each deadline id."""
    import json

    with Session(ctx.engine) as s:
        data = s.exec(select(m.AuditEvent.data).where(m.AuditEvent.kind == "deadline.fired"))
        return Counter(int(json.loads(d)["deadline"]) for d in data)


def wait_until_fired(ctx: Context, ids: list[int], timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if all(r.state == "fired" for r in rows(ctx, ids)):
            return time.monotonic() - started
        time.sleep(0.1)
    states = Counter(r.state for r in rows(ctx, ids))
    raise AssertionError(f"not all fired within {timeout} s: {dict(states)}")


def start_worker(db_url: str, log: Path, poll: float = 1.0) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(COMMANDPOST_DATABASE_URL=db_url, COMMANDPOST_POLICY=str(POLICY_FILE))
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "commandpost", "worker", "--safety-poll", str(poll)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 30
    while b"worker: running deadlines" not in log.read_bytes().split(b"worker: stopped")[-1]:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "worker did not start"
        time.sleep(0.05)
    return proc


def stop_worker(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log.read_text()


def test_a_sooner_deadline_wakes_the_scheduler(live: Context) -> None:
    runner = start_runner(live, safety_poll=600)  # the poll cannot be what fires it
    try:
        [probe] = add_probes(live, [now() + timedelta(seconds=1)])
        wait_until_fired(live, [probe], timeout=5)
        [row] = rows(live, [probe])
        assert row.lateness_seconds is not None and row.lateness_seconds < 1.0
    finally:
        runner.shutdown()


def test_a_worker_hears_of_another_processs_deadline_before_its_poll(
    live: Context, db_url: str, tmp_path: Path
) -> None:
    """SQLite: the worker sees this process's commit through PRAGMA data_version; PostgreSQL:
    through NOTIFY. With a 10-minute poll, either is the only way it fires in time."""
    log = tmp_path / "worker.log"
    proc = start_worker(db_url, log, poll=600)
    try:
        [probe] = add_probes(live, [now() + timedelta(seconds=1)])
        wait_until_fired(live, [probe], timeout=20)
    finally:
        stop_worker(proc, log)
    assert fired_events(live)[probe] == 1


def test_sigkilled_worker_restarted_fires_each_overdue_deadline_once(
    live: Context, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    worker = start_worker(str(live.engine.url.render_as_string(hide_password=False)), log)
    due = [now() + timedelta(seconds=3, milliseconds=50 * i) for i in range(20)]
    probes = add_probes(live, due)
    worker.send_signal(signal.SIGKILL)  # dies with its deadlines pending
    worker.wait(timeout=10)
    time.sleep(max(0.0, (due[-1] - now()).total_seconds()) + 1.0)
    assert {r.state for r in rows(live, probes)} == {"pending"}  # nobody fired them

    restarted = now()
    worker = start_worker(str(live.engine.url.render_as_string(hide_password=False)), log)
    try:
        wait_until_fired(live, probes, timeout=5 + 10)
    finally:
        stop_worker(worker, log)
    fired = rows(live, probes)
    assert all(
        r.fired_at is not None and r.fired_at - restarted < timedelta(seconds=15) for r in fired
    )
    by_due = sorted(fired, key=lambda r: (r.due_at, r.id))
    assert [r.fired_at for r in by_due] == sorted(r.fired_at for r in fired if r.fired_at)
    assert all((r.lateness_seconds or 0) >= 1.0 for r in fired)  # lateness recorded
    events = fired_events(live)
    assert [events[p] for p in probes] == [1] * len(probes)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "db_url", ["postgres"], indirect=True
)  # replicas share work through PostgreSQL
def test_two_workers_on_postgresql_fire_1000_deadlines_once(live: Context, tmp_path: Path) -> None:
    assert live.engine.dialect.name == "postgresql"
    url = live.engine.url.render_as_string(hide_password=False)
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    # A 60 s safety poll: the workers hear of the new deadlines through NOTIFY.
    workers = [start_worker(url, log, poll=60) for log in logs]
    try:
        start = now() + timedelta(seconds=2)
        probes = add_probes(live, [start + timedelta(milliseconds=3 * i) for i in range(1000)])
        wait_until_fired(live, probes, timeout=90)
    finally:
        for proc, log in zip(workers, logs, strict=True):
            stop_worker(proc, log)
    events = fired_events(live)
    assert [events[p] for p in probes] == [1] * 1000
    per_worker = [log.read_text().count("fired deadline") for log in logs]
    assert sum(per_worker) == len(events)  # every firing was logged by exactly one worker
    assert max(r.lateness_seconds or 0 for r in rows(live, probes)) < 30


HOLD_A_CLAIM = textwrap.dedent(
    """
    import sys, time
    from commandpost.chat.console import ConsoleChat
    from commandpost.policy_file import load_policy
    from commandpost.runtime import build_context
    from commandpost.service import deadlines
    from commandpost.service.ports import SystemClock

    def hang(session, ctx, incident, at):
        session.flush()  # the row lock and the fired state exist only in this transaction
        open(sys.argv[3], "w").write("holding")
        time.sleep(600)

    deadlines._fire_mitigation = hang
    clock = SystemClock()
    ctx = build_context(
        database_url=sys.argv[1], policy=load_policy(sys.argv[2]), clock=clock,
        chat=ConsoleChat(clock),
    )
    deadlines.fire_due(ctx)
    """
)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "db_url", ["postgres"], indirect=True
)  # row claims are PostgreSQL's SKIP LOCKED
def test_a_claim_held_by_a_killed_worker_is_taken_over(live: Context, tmp_path: Path) -> None:
    assert live.engine.dialect.name == "postgresql"
    [probe] = add_probes(live, [now() - timedelta(seconds=1)])
    marker = tmp_path / "holding"
    url = live.engine.url.render_as_string(hide_password=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_CLAIM, url, str(POLICY_FILE), str(marker)]
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        assert [r.state for r in rows(live, [probe])] == ["pending"]  # not committed
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    fired = deadlines.fire_due(live)  # the lock died with the connection
    assert [f.deadline_id for f in fired if f.deadline_id == probe] == [probe]
    assert deadlines.fire_due(live) == []
    assert fired_events(live)[probe] == 1
