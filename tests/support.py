"""Helpers shared by the tests: stand-ins, builders and database probes (fixtures: conftest)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlmodel import Session, col, select

from commandpost.core.vocabulary import IncidentClass, Severity
from commandpost.errors import DeliveryFailed, PolicyInvalid
from commandpost.policy_file import load_policy
from commandpost.service import gates, roles
from commandpost.service.context import Context
from commandpost.service.incidents import Declaration, declare
from commandpost.service.ports import ExecutionRequest, ExecutionResult
from commandpost.storage import models as m

ROOT = Path(__file__).resolve().parent.parent
POLICY_FILE = ROOT / "policy.yml"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# Every table an operation writes to: what "writes nothing" is checked against.
TABLES = (
    "incidents",
    "role_assignments",
    "gates",
    "gate_decisions",
    "deadlines",
    "outbox",
    "audit_events",
    "policy_snapshots",
)
ROLLBACK = {"model": "chat-large", "to_version": "2026-02-01"}


# -- people and incidents ----------------------------------------------------------------------


def staff(ctx: Context, incident_id: str, *people: str) -> None:
    """Have `people` (or everyone paged and not yet acknowledged) acknowledge their roles.

    A role is not staffed until its person acknowledges, and only staffed roles decide gates:
    tests that approve as a paged responder staff the incident first.
    """
    if not people:
        waiting = [
            r.person_id for r in roles.role_holders(ctx, incident_id) if r.acknowledged_at is None
        ]
        people = tuple(dict.fromkeys(waiting))
    for person in people:
        roles.acknowledge(ctx, incident_id, person_id=person)


def declaration(
    title: str,
    klass: IncidentClass,
    severity: Severity = Severity.SEV1,
    *,
    declared_by: str = "alice",
    **details: str,
) -> Declaration:
    """What `/incident declare` would send; `details` are Declaration's optional fields."""
    return Declaration(
        title=title, klass=klass, severity=severity, declared_by=declared_by, **details
    )


def declare_incident(
    ctx: Context,
    title: str,
    klass: IncidentClass,
    severity: Severity = Severity.SEV1,
    **kw: str,
) -> str:
    """Declare through the service layer; returns the new incident's id."""
    return declare(ctx, declaration(title, klass, severity, **kw)).id


def contain(
    ctx: Context,
    incident_id: str,
    action: str = "rollback_model",
    params: dict[str, str] | None = None,
    *,
    requester: str = "carol",
) -> int:
    """Request a containment gate (by default carol's rollback of chat-large); its id."""
    return gates.request_containment(
        ctx,
        incident_id,
        action=action,
        params=ROLLBACK if params is None else params,
        requester=requester,
    )


# -- the executor port -------------------------------------------------------------------------


@dataclass
class RecordingExecutor:
    """Stands in for the operator's control plane: records every call (from any thread).

    It is down for the first `failures` calls (DeliveryFailed, as an HTTP 502 would be), then
    confirms each call with `detail`.
    """

    failures: int = 0
    detail: str = "control plane says ok"
    calls: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        with self.lock:
            self.calls.append(
                {
                    "name": request.name,
                    "params": request.params,
                    "mode": request.mode,
                    "gate": request.gate_id,
                    "inc": request.incident_id,
                }
            )
            down = len(self.calls) <= self.failures
        if down:
            raise DeliveryFailed("control plane answered HTTP 502")
        return ExecutionResult("done", self.detail)

    @property
    def gate_ids(self) -> list[int]:
        """The gate of each call, in call order."""
        return [call["gate"] for call in self.calls]


# -- what the database holds -------------------------------------------------------------------


def counts(source: Context | Engine | str, tables: Sequence[str] = TABLES) -> dict[str, int]:
    """Rows per table, from a Context, an Engine or a database URL (opened and disposed)."""
    if isinstance(source, str):
        engine = create_engine(source)
        try:
            return counts(engine, tables)
        finally:
            engine.dispose()
    engine = source.engine if isinstance(source, Context) else source
    with engine.connect() as conn:
        return {
            t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables
        }


def gate_row(ctx: Context, gate_id: int) -> m.Gate:
    with Session(ctx.engine) as s:
        row = s.get(m.Gate, gate_id)
        assert row is not None
        return row


def audit_kinds(ctx: Context, incident_id: str | None = None) -> list[str]:
    """The kinds of the audit events in sequence order: all of them, or one incident's."""
    with Session(ctx.engine) as s:
        query = select(m.AuditEvent.kind)
        if incident_id is not None:
            query = query.where(m.AuditEvent.incident_id == incident_id)
        return list(s.exec(query.order_by(col(m.AuditEvent.seq))))


# -- the command line --------------------------------------------------------------------------


def run_cli(
    *args: str,
    db_url: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`python -m commandpost ARGS` in a real process; with `db_url`, on that database and
    the shipped policy. `env` is added to (and wins over) the inherited environment."""
    full_env = dict(os.environ)
    if db_url is not None:
        full_env["COMMANDPOST_DATABASE_URL"] = db_url
        full_env["COMMANDPOST_POLICY"] = str(POLICY_FILE)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "commandpost", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


Cli = Callable[..., tuple[int, str, str]]


def cli_on(db_url: str, env: dict[str, str]) -> Cli:
    """A `cli(*args)` running the command line on `db_url` with `env` added: (exit code,
    stdout, stderr)."""

    def cli(*args: str) -> tuple[int, str, str]:
        done = run_cli(*args, db_url=db_url, env=env)
        return done.returncode, done.stdout, done.stderr

    return cli


def declare_by_cli(cli: Cli) -> str:
    """Upgrade `cli`'s database and declare a SEV1 data-leakage incident as alice; its id."""
    assert cli("db", "upgrade")[0] == 0
    code, out, err = cli("declare", "SEV1", "data_leakage", "Leak in replies", "--as", "alice")
    assert code == 0, err
    return re.findall(r"declared (INC-\d{4}-\d{4})", out)[0]


# -- the policy file ---------------------------------------------------------------------------


def problems_of(tmp_path: Path, text: str) -> list[str]:
    """The problems the policy check reports for a policy file holding `text`."""
    path = tmp_path / "policy.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyInvalid) as caught:
        load_policy(path)
    return caught.value.problems
