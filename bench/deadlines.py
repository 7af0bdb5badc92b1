"""Deadline lateness: N pending deadlines due over S seconds, fired by the real runner.

    .venv/bin/python bench/deadlines.py [--count 10000] [--spread 60] [--skip-postgres]

1. SQLite, one in-process runner (APScheduler, wall clock).
2. SQLite restart: a tenth as many deadlines already overdue when a fresh runner starts.
3. PostgreSQL (a throwaway cluster from tests/pgserver.py), two `commandpost worker` processes.

Each phase prints p50 / p99 / max lateness (due time → fired, as recorded on the row), and how
many deadlines fired more than once (audit events per deadline) or never; both must be 0.
The outbox is not delivered during the run (in `serve` another thread delivers it), so the
figures measure the firing itself: claim, record, audit event and effects queued.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import bindparam, update
from sqlmodel import Session, col, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from commandpost.chat.console import ConsoleChat  # noqa: E402
from commandpost.core.deadlines import DeadlineKind, DueTime  # noqa: E402
from commandpost.core.vocabulary import IncidentClass, Severity  # noqa: E402
from commandpost.policy_file import load_policy  # noqa: E402
from commandpost.runtime import build_context  # noqa: E402
from commandpost.scheduling import start_runner  # noqa: E402
from commandpost.service import timers  # noqa: E402
from commandpost.service.context import Context  # noqa: E402
from commandpost.service.incidents import Declaration, declare  # noqa: E402
from commandpost.service.ports import SystemClock  # noqa: E402
from commandpost.storage import models as m  # noqa: E402
from commandpost.storage.engine import transaction  # noqa: E402
from commandpost.storage.migrate import upgrade  # noqa: E402

POLICY = ROOT / "policy.yml"
LEAD = 2.0  # seconds from seeding to the first due time


def context(url: str) -> Context:
    clock = SystemClock()
    return build_context(
        database_url=url,
        policy=load_policy(str(POLICY)),
        clock=clock,
        chat=ConsoleChat(clock, stream=io.StringIO()),
    )


def seed(ctx: Context, offsets: list[float]) -> list[int]:
    """20 SEV3 incidents (their own timers are hours out) and one probe deadline per time.

    The probes are written a year out, then moved in one statement to `offsets` seconds from
    that moment, so the time spent writing them does not count as lateness.
    """
    incidents = [
        declare(
            ctx,
            Declaration(
                title=f"bench {i}",
                klass=IncidentClass.FUNCTIONAL,
                severity=Severity.SEV3,
                declared_by="alice",
            ),
        ).id
        for i in range(20)
    ]
    parked = datetime.now(UTC) + timedelta(days=365)
    ids: list[int] = []
    for start in range(0, len(offsets), 2000):
        with transaction(ctx.engine) as session:
            rows = [
                timers.schedule(
                    session,
                    incidents[i % len(incidents)],
                    DueTime(DeadlineKind.MITIGATION_SLA, f"bench-{i}", 0, parked),
                )
                for i in range(start, min(len(offsets), start + 2000))
            ]
            session.flush()
            ids.extend(r.id for r in rows if r.id is not None)
    base = datetime.now(UTC)
    move = (
        update(m.Deadline)
        .where(col(m.Deadline.id) == bindparam("b_id"))
        .values(due_at=bindparam("b_due"))
    )
    with transaction(ctx.engine) as session:
        session.connection().execute(
            move,
            [
                {"b_id": i, "b_due": base + timedelta(seconds=o)}
                for i, o in zip(ids, offsets, strict=True)
            ],
        )
        timers.note_wake(session, base + timedelta(seconds=min(offsets)))
    return ids


def spread_times(count: int, first: float, spread: float) -> list[float]:
    step = spread / max(1, count - 1)
    return [first + i * step for i in range(count)]


def wait_fired(ctx: Context, ids: list[int], timeout: float) -> None:
    wanted = set(ids)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with Session(ctx.engine) as s:
            pending = s.exec(
                select(m.Deadline.id).where(
                    m.Deadline.state == "pending", m.Deadline.due_at <= datetime.now(UTC)
                )
            ).all()
        if not wanted.intersection(pending) and datetime.now(UTC) > last_due(ctx, ids):
            return
        time.sleep(0.25)


def last_due(ctx: Context, ids: list[int]) -> datetime:
    with Session(ctx.engine) as s:
        row = s.get(m.Deadline, max(ids))
        assert row is not None
        return row.due_at


def report(name: str, ctx: Context, ids: list[int]) -> dict[str, float]:
    wanted = set(ids)
    with Session(ctx.engine) as s:
        rows = [r for r in s.exec(select(m.Deadline)) if r.id in wanted]
        data = s.exec(select(m.AuditEvent.data).where(m.AuditEvent.kind == "deadline.fired"))
        events = Counter(int(json.loads(d)["deadline"]) for d in data)
    late = sorted(r.lateness_seconds for r in rows if r.lateness_seconds is not None)
    twice = sum(1 for i in ids if events[i] > 1)
    never = sum(1 for i in ids if events[i] == 0)
    p99 = late[min(len(late) - 1, int(len(late) * 0.99))] if late else float("nan")
    figures = {
        "fired": float(len(late)),
        "p50": statistics.median(late) if late else float("nan"),
        "p99": p99,
        "max": late[-1] if late else float("nan"),
        "twice": float(twice),
        "never": float(never),
    }
    print(
        f"{name:<38} fired {len(late):>6}/{len(ids):<6} p50 {figures['p50']:.3f} s  "
        f"p99 {figures['p99']:.3f} s  max {figures['max']:.3f} s  "
        f"fired twice {twice}  never {never}",
        flush=True,
    )
    return figures


def sqlite_phase(count: int, spread: float, workdir: Path) -> None:
    url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(url)
    ctx = context(url)
    ids = seed(ctx, spread_times(count, LEAD, spread))
    runner = start_runner(ctx, deliver=False)
    try:
        wait_fired(ctx, ids, timeout=spread + 120)
    finally:
        runner.shutdown()
    report(f"sqlite, 1 runner, {count} over {spread:g} s", ctx, ids)

    # Restart: deadlines that fell due while nothing ran; a fresh runner starts.
    overdue = max(1, count // 10)
    ids = seed(ctx, spread_times(overdue, -spread, spread))
    started = time.monotonic()
    runner = start_runner(ctx, deliver=False)
    try:
        wait_fired(ctx, ids, timeout=120)
        took = time.monotonic() - started
    finally:
        runner.shutdown()
    report(f"sqlite restart, {overdue} overdue", ctx, ids)
    print(f"{'':<38} all overdue fired {took:.2f} s after start", flush=True)
    ctx.engine.dispose()


def postgres_phase(count: int, spread: float, workdir: Path) -> None:
    import psycopg

    import pgserver

    server = pgserver.start()
    if server is None:
        print("postgresql: not installed, skipped")
        return
    try:
        with psycopg.connect(
            f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute('CREATE DATABASE "bench"')
        url = server.url("bench")
        upgrade(url)
        ctx = context(url)
        env = dict(os.environ, COMMANDPOST_DATABASE_URL=url, COMMANDPOST_POLICY=str(POLICY))
        logs = [workdir / f"worker{i}.log" for i in (1, 2)]
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "commandpost", "worker"],
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                env=env,
            )
            for log in logs
        ]
        try:
            ids = seed(ctx, spread_times(count, LEAD, spread))
            wait_fired(ctx, ids, timeout=spread + 300)
        finally:
            for proc in workers:
                proc.send_signal(signal.SIGTERM)
            for proc in workers:
                proc.wait(timeout=60)
        report(f"postgresql, 2 workers, {count} over {spread:g} s", ctx, ids)
        shares = [log.read_text().count("fired deadline") for log in logs]
        print(f"{'':<38} fired per worker: {shares}", flush=True)
        ctx.engine.dispose()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cp-bench-") as tmp:
        sqlite_phase(args.count, args.spread, Path(tmp))
        if not args.skip_postgres:
            postgres_phase(args.count, args.spread, Path(tmp))


if __name__ == "__main__":
    main()
