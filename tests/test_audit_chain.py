"""The tamper-evident audit chain: in memory, on the database lanes, and `audit verify`."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from commandpost.core.audit import (
    GENESIS_HASH,
    AuditRecord,
    canonical_bytes,
    recompute,
    seal,
    verify_chain,
)
from commandpost.core.vocabulary import IncidentClass, Role, Status
from commandpost.service import audit_log, roles
from commandpost.service.context import Context
from commandpost.service.incidents import add_note, change_status, declare, post_update
from commandpost.service.ports import ManualClock

from .support import declaration, run_cli

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make_chain(n: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        record = seal(
            seq=seq,
            at=T0 + timedelta(seconds=seq),
            incident_id="INC-2026-0001" if seq % 3 else None,
            actor=["alice", "bob", "commandpost"][seq % 3],
            kind=["incident.declared", "role.paged", "note.added"][seq % 3],
            data={"n": seq, "text": f"event {seq} — ünïcode", "nested": {"b": [1, 2], "a": None}},
            policy_version="sha256:0123456789abcdef",
            prev_hash=prev,
        )
        records.append(record)
        prev = record.hash
    return records


def head_of(records: list[AuditRecord]) -> tuple[int, str]:
    return (records[-1].seq, records[-1].hash) if records else (0, GENESIS_HASH)


# -- in memory ---------------------------------------------------------------------------------


def test_intact_chain_verifies() -> None:
    records = make_chain(10)
    report = verify_chain(records, head=head_of(records))
    assert report.ok
    assert report.count == 10
    assert report.first_bad_seq is None
    assert report.head_hash == records[-1].hash
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))


def test_empty_chain_verifies_against_an_empty_head() -> None:
    assert verify_chain([], head=(0, GENESIS_HASH)).ok
    assert verify_chain([]).count == 0


def test_hash_covers_the_canonical_bytes() -> None:
    record = make_chain(1)[0]
    fields = {k: getattr(record, k) for k in ("seq", "at", "incident_id", "actor", "kind")}
    raw = canonical_bytes(
        **fields, data=record.data, policy_version=record.policy_version, prev_hash=GENESIS_HASH
    )
    assert hashlib.sha256(raw).hexdigest() == record.hash == recompute(record)


# The canonical form is frozen: stored chains were sealed with it. These golden hashes and the
# reference implementation below must never change, however canonical_bytes is optimised.
GOLDEN_DATA = {
    "gate": 7,
    "decision": "approve",
    "reason": None,
    "note": "größer — ok",
    "list": [1, 2.5, True],
    "nested": {"z": 1, "a": [{"y": 2, "b": 3}]},
}


def test_golden_hashes() -> None:
    first = seal(
        seq=42,
        at=datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
        incident_id="INC-2026-0042",
        actor="alice",
        kind="gate.decided",
        data=GOLDEN_DATA,
        policy_version="sha256:0123456789abcdef",
        prev_hash=GENESIS_HASH,
    )
    assert first.hash == "fd0929f1fa64ee7831f2025008345c212cb6778abf593cc45554bf325e71d871"
    second = seal(
        seq=1,
        at=datetime(2026, 1, 1, tzinfo=UTC),
        incident_id=None,
        actor="commandpost",
        kind="k",
        data={},
        policy_version=None,
        prev_hash="a" * 64,
    )
    assert second.hash == "0daed876ee343e7ec537be9d37a65ec6f1e1f1743d169e7b876497b89300a0ec"


def reference_bytes(
    seq: int,
    at: datetime,
    incident_id: str | None,
    actor: str,
    kind: str,
    data: dict[str, Any],
    policy_version: str | None,
    prev_hash: str,
) -> bytes:
    """The canonical form as first specified, written out independently of core.audit."""
    data_json = json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    when = at.astimezone(UTC).isoformat(timespec="microseconds")
    body = [seq, when, incident_id, actor, kind, data_json, policy_version]
    return (prev_hash + "\n" + json.dumps(body, separators=(",", ":"))).encode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    seq=st.integers(1, 10**12),
    at=st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7, minutes=-30))])),
    incident_id=st.none() | st.text(max_size=15),
    actor=st.text(max_size=15),
    kind=st.text(max_size=20),
    data=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    policy_version=st.none() | st.text(max_size=25),
    prev_hash=st.text("0123456789abcdef", min_size=64, max_size=64),
)
def test_canonical_bytes_match_the_reference(
    seq: int,
    at: datetime,
    incident_id: str | None,
    actor: str,
    kind: str,
    data: dict[str, Any],
    policy_version: str | None,
    prev_hash: str,
) -> None:
    args = (seq, at, incident_id, actor, kind, data, policy_version, prev_hash)
    expected = reference_bytes(*args)
    fields: dict[str, Any] = dict(zip(_FIELD_NAMES, args, strict=True))
    assert canonical_bytes(**fields) == expected
    record = seal(**fields)
    assert record.hash == hashlib.sha256(expected).hexdigest()
    assert recompute(record) == record.hash


_FIELD_NAMES = (
    "seq",
    "at",
    "incident_id",
    "actor",
    "kind",
    "data",
    "policy_version",
    "prev_hash",
)


def test_same_instant_in_another_timezone_is_not_tampering() -> None:
    records = make_chain(3)
    elsewhere = records[1].at.astimezone(timezone(timedelta(hours=-5)))
    records[1] = replace(records[1], at=elsewhere)
    assert verify_chain(records, head=head_of(records)).ok


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        seal(
            seq=1,
            at=datetime(2026, 1, 1),
            incident_id=None,
            actor="a",
            kind="k",
            data={},
            policy_version=None,
            prev_hash=GENESIS_HASH,
        )


EDITS: dict[str, dict[str, Any]] = {
    "data": {"data": {"n": 999}},
    "data key order is irrelevant but a value is not": {"data": {"n": 5, "text": "other"}},
    "actor": {"actor": "mallory"},
    "kind": {"kind": "incident.closed"},
    "time": {"at": T0 + timedelta(days=1)},
    "incident": {"incident_id": "INC-2026-0002"},
    "policy version": {"policy_version": "sha256:ffffffffffffffff"},
    "stored hash": {"hash": "f" * 64},
    "previous hash": {"prev_hash": "e" * 64},
}


@pytest.mark.parametrize("field", list(EDITS))
@pytest.mark.parametrize("seq", [1, 5, 10])
def test_edited_record_is_named(field: str, seq: int) -> None:
    records = make_chain(10)
    records[seq - 1] = replace(records[seq - 1], **EDITS[field])
    report = verify_chain(records, head=head_of(make_chain(10)))
    assert report.first_bad_seq == seq
    assert report.count == seq - 1
    assert not report.ok


def test_edit_with_a_recomputed_hash_is_caught_at_the_next_link() -> None:
    records = make_chain(10)
    forged = seal(**{**_fields(records[4]), "data": {"n": 999}})
    records[4] = forged
    report = verify_chain(records, head=head_of(make_chain(10)))
    assert report.first_bad_seq == 6
    assert "previous-hash" in report.reason


def test_rewriting_the_whole_tail_is_caught_by_the_head_anchor() -> None:
    original = make_chain(10)
    records = original[:4]
    prev = records[-1].hash
    for old in original[4:]:
        forged = seal(**{**_fields(old), "actor": "mallory", "prev_hash": prev})
        records.append(forged)
        prev = forged.hash
    assert verify_chain(records).ok  # the chain alone cannot show a full rewrite …
    assert not verify_chain(records, head=head_of(original)).ok  # … the anchor can.


@pytest.mark.parametrize("seq", [1, 2, 5, 9])
def test_deleted_record_is_named(seq: int) -> None:
    records = make_chain(10)
    del records[seq - 1]
    report = verify_chain(records, head=(10, make_chain(10)[-1].hash))
    assert report.first_bad_seq == seq
    assert "removed" in report.reason


@pytest.mark.parametrize(("i", "j"), [(1, 2), (3, 7), (1, 10), (9, 10)])
def test_swapped_records_name_the_earlier_seq(i: int, j: int) -> None:
    records = make_chain(10)
    records[i - 1], records[j - 1] = records[j - 1], records[i - 1]
    assert verify_chain(records, head=head_of(make_chain(10))).first_bad_seq == i


@pytest.mark.parametrize(("i", "j"), [(1, 2), (3, 7), (9, 10)])
def test_swapped_contents_under_fixed_seqs_name_the_earlier_seq(i: int, j: int) -> None:
    records = make_chain(10)
    a, b = records[i - 1], records[j - 1]
    records[i - 1], records[j - 1] = replace(b, seq=a.seq), replace(a, seq=b.seq)
    assert verify_chain(records, head=head_of(make_chain(10))).first_bad_seq == i


@pytest.mark.parametrize("keep", [0, 1, 5, 9])
def test_truncated_tail_is_named_against_the_head(keep: int) -> None:
    full = make_chain(10)
    report = verify_chain(full[:keep], head=head_of(full))
    assert report.first_bad_seq == keep + 1
    assert report.count == keep
    assert "removed from the end" in report.reason
    # Without the anchor a cut chain looks whole: that is what the head is for.
    assert verify_chain(full[:keep]).ok


def test_altered_head_is_reported() -> None:
    records = make_chain(5)
    assert verify_chain(records, head=(5, "a" * 64)).first_bad_seq == 5
    assert verify_chain(records, head=(7, records[-1].hash)).first_bad_seq == 6


def _fields(record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "at": record.at,
        "incident_id": record.incident_id,
        "actor": record.actor,
        "kind": record.kind,
        "data": record.data,
        "policy_version": record.policy_version,
        "prev_hash": record.prev_hash,
    }


def _expected_after(op: str, n: int, i: int, j: int) -> tuple[list[AuditRecord], int | None]:
    records = make_chain(n)
    if op == "edit":
        records[i - 1] = replace(records[i - 1], actor="mallory")
        return records, i
    if op == "delete":
        del records[i - 1]
        return records, i
    if op == "swap":
        if i == j:
            return records, None
        lo, hi = min(i, j), max(i, j)
        records[lo - 1], records[hi - 1] = records[hi - 1], records[lo - 1]
        return records, lo
    if op == "truncate":
        return records[: i - 1], i
    raise AssertionError(op)


@settings(max_examples=300, deadline=None)
@given(
    op=st.sampled_from(["edit", "delete", "swap", "truncate"]),
    n=st.integers(1, 25),
    data=st.data(),
)
def test_any_single_tampering_names_the_first_bad_seq(op: str, n: int, data: st.DataObject) -> None:
    i = data.draw(st.integers(1, n), label="i")
    j = data.draw(st.integers(1, n), label="j")
    records, expected = _expected_after(op, n, i, j)
    report = verify_chain(records, head=head_of(make_chain(n)))
    assert report.first_bad_seq == expected, report.reason
    assert report.ok is (expected is None)


# -- on the database lanes ---------------------------------------------------------------------


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
