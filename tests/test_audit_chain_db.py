"""The audit chain on the database lanes: service events chain, tampered rows are named.

Rows edited, deleted or reordered with SQL behind the application's back, found by
`audit_log.verify` and by `commandpost audit verify`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from commandpost.core.vocabulary import IncidentClass, Role, Status
from commandpost.service import audit_log, roles
from commandpost.service.context import Context
from commandpost.service.incidents import add_note, change_status, declare, post_update
from commandpost.service.ports import ManualClock

from .support import declaration, run_cli


@pytest.fixture
def audited(ctx: Context, clock: ManualClock) -> Iterator[Context]:
    """An incident with a dozen audit events, made through the service layer."""
    incident = declare(
        ctx,
        declaration(
            "Support bot gives dangerous dosage advice",
            IncidentClass.HARMFUL_CONTENT,
            model="helper-7b",
            model_version="2026.02.1",
            surface="support-chat",
        ),
    )
    for person, role in (
        ("alice", Role.INCIDENT_COMMANDER),
        ("carol", Role.MODEL_OWNER),
        ("erin", Role.SAFETY_LEAD),
        ("grace", Role.COMMS),
    ):
        clock.advance(timedelta(minutes=1))
        roles.acknowledge(ctx, incident.id, person_id=person, role=role)
    clock.advance(timedelta(minutes=2))
    add_note(ctx, incident.id, actor="carol", text="reproduced on 3 of 5 prompts")
    change_status(ctx, incident.id, status=Status.INVESTIGATING, actor="alice")
    post_update(ctx, incident.id, actor="alice", text="filter raised; investigating")
    yield ctx
    ctx.engine.dispose()


def _count(ctx: Context) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one())


def _sql(ctx: Context, statement: str, **params: Any) -> int:
    with ctx.engine.begin() as conn:
        return conn.execute(text(statement), params).rowcount


def test_service_events_form_an_intact_chain(audited: Context) -> None:
    n = _count(audited)
    assert n >= 10
    report = audit_log.verify(audited)
    assert report.ok, report.reason
    assert report.count == n
    with audited.engine.connect() as conn:
        head = conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
    assert tuple(head) == (n, report.head_hash)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("data", '{"tampered":true}'),
        ("actor", "mallory"),
        ("kind", "note.deleted"),
        ("hash", "0" * 64),
    ],
)
def test_db_edited_row_is_named(audited: Context, column: str, value: str) -> None:
    assert _sql(audited, f"UPDATE audit_events SET {column} = :v WHERE seq = 5", v=value) == 1
    report = audit_log.verify(audited)
    assert report.first_bad_seq == 5, report.reason


def test_db_edited_time_is_named(audited: Context) -> None:
    later = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    bind = later if audited.engine.dialect.name == "postgresql" else later.replace(tzinfo=None)
    assert _sql(audited, "UPDATE audit_events SET at = :v WHERE seq = 7", v=bind) == 1
    assert audit_log.verify(audited).first_bad_seq == 7


def test_db_deleted_middle_row_is_named(audited: Context) -> None:
    assert _sql(audited, "DELETE FROM audit_events WHERE seq = 4") == 1
    report = audit_log.verify(audited)
    assert report.first_bad_seq == 4
    assert "removed" in report.reason


def test_db_deleted_first_row_is_named(audited: Context) -> None:
    assert _sql(audited, "DELETE FROM audit_events WHERE seq = 1") == 1
    assert audit_log.verify(audited).first_bad_seq == 1


COLUMNS = ("at", "incident_id", "actor", "kind", "data", "policy_version", "prev_hash", "hash")


def test_db_swapped_row_contents_name_the_earlier_seq(audited: Context) -> None:
    with audited.engine.begin() as conn:
        rows = {
            r.seq: r
            for r in conn.execute(
                text(f"SELECT seq, {', '.join(COLUMNS)} FROM audit_events WHERE seq IN (3, 8)")
            )
        }
        assignments = ", ".join(f"{c} = :{c}" for c in COLUMNS)
        for seq, other in ((3, 8), (8, 3)):
            values = {c: getattr(rows[other], c) for c in COLUMNS}
            conn.execute(
                text(f"UPDATE audit_events SET {assignments} WHERE seq = :seq"),
                {**values, "seq": seq},
            )
    report = audit_log.verify(audited)
    assert report.first_bad_seq == 3, report.reason


def test_db_reordered_seqs_name_the_earlier_seq(audited: Context) -> None:
    _sql(audited, "UPDATE audit_events SET seq = -6 WHERE seq = 6")
    _sql(audited, "UPDATE audit_events SET seq = 6 WHERE seq = 9")
    _sql(audited, "UPDATE audit_events SET seq = 9 WHERE seq = -6")
    assert audit_log.verify(audited).first_bad_seq == 6


def test_db_deleted_tail_row_is_named_by_the_head(audited: Context) -> None:
    n = _count(audited)
    assert _sql(audited, "DELETE FROM audit_events WHERE seq = :n", n=n) == 1
    report = audit_log.verify(audited)
    assert report.first_bad_seq == n
    assert "removed from the end" in report.reason


def test_db_chain_continues_after_a_verify(audited: Context) -> None:
    before = _count(audited)
    with audited.engine.connect() as conn:
        incident_id = conn.execute(text("SELECT id FROM incidents")).scalar_one()
    add_note(audited, incident_id, actor="erin", text="second reproduction")
    report = audit_log.verify(audited)
    assert report.ok
    assert report.count == before + 1


# -- `commandpost audit verify` ----------------------------------------------------------------


def run_verify(db_url: str) -> subprocess.CompletedProcess[str]:
    return run_cli("audit", "verify", db_url=db_url)


def test_cli_verify_passes_then_names_the_tampered_seq(audited: Context, db_url: str) -> None:
    n = _count(audited)
    ok = run_verify(db_url)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"{n} event(s)" in ok.stdout

    _sql(audited, "UPDATE audit_events SET data = :v WHERE seq = 6", v='{"role":"nobody"}')
    broken = run_verify(db_url)
    output = broken.stdout + broken.stderr
    assert broken.returncode == 1, output
    assert "seq 6" in output


def test_cli_verify_names_a_cut_tail(audited: Context, db_url: str) -> None:
    n = _count(audited)
    _sql(audited, "DELETE FROM audit_events WHERE seq = :n", n=n)
    broken = run_verify(db_url)
    assert broken.returncode == 1
    assert f"seq {n}" in broken.stdout + broken.stderr
