"""Sealed evidence end to end on both database lanes and both stores (a local directory, and
S3 on a local moto server): custody, verify, retention, holds, export."""

from __future__ import annotations

import hashlib
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from commandpost.chat.console import ConsoleChat
from commandpost.core.vocabulary import IncidentClass
from commandpost.errors import Conflict, InvalidInput, NotAuthorised
from commandpost.evidence.archive import verify_archive
from commandpost.service import evidence, outbox
from commandpost.service.context import Context
from commandpost.service.evidence_export import export
from commandpost.service.evidence_retention import place_hold, release_hold, run_retention
from commandpost.service.incidents import add_note, get_incident, resolve
from commandpost.service.ports import EvidenceStore, ManualClock
from commandpost.storage.evidence_models import Evidence, EvidenceRead

from .evidencesupport import make_store, remove, tamper
from .evidencesupport import s3_endpoint as s3_endpoint
from .evidencesupport import s3_store as s3_store
from .support import POLICY_FILE, audit_kinds, counts, declare_incident, run_cli

LEAK = b"answer to user 7: your card 4111 1111 1111 1111 is on file, email bob.smith@example.com"
TABLES = ("audit_events", "evidence", "evidence_reads", "legal_holds", "outbox")


@pytest.fixture(params=["local", "s3"])
def store(ctx: Context, tmp_path: Path, request: pytest.FixtureRequest) -> EvidenceStore:
    chosen = make_store(request.param, request, tmp_path)
    ctx.evidence = chosen
    return chosen


def _incident(ctx: Context, klass: IncidentClass = IncidentClass.DATA_LEAKAGE) -> str:
    return declare_incident(ctx, "Model quotes other users' data", klass)


def test_the_channel_sees_only_the_redacted_copy(
    ctx: Context, chat: ConsoleChat, store: EvidenceStore
) -> None:
    iid = _incident(ctx)
    added = evidence.add(ctx, iid, actor="erin", content=LEAK, kind="output", label="reply")
    assert added.sha256 == hashlib.sha256(LEAK).hexdigest()
    assert store.get(added.sha256) == LEAK
    outbox.deliver(ctx)
    said = "\n".join(chat.messages_to("#" + get_incident(ctx, iid).channel))
    assert "[card]" in said and "[email]" in said
    assert "4111" not in said and "bob.smith" not in said
    assert audit_kinds(ctx, iid)[-1] == "evidence.added"


def test_the_evidence_verb_now_seals_its_text(ctx: Context, store: EvidenceStore) -> None:
    iid = _incident(ctx)
    add_note(ctx, iid, actor="erin", text="seen: bob.smith@example.com", evidence=True)
    (item,) = evidence.list_evidence(ctx, iid)
    assert store.get(item.sha256) == b"seen: bob.smith@example.com"
    assert item.redacted == "seen: [email]"


def test_reading_needs_a_reader_role_and_a_reason_and_is_audited(
    ctx: Context, store: EvidenceStore
) -> None:
    iid = _incident(ctx)
    eid = evidence.add(ctx, iid, actor="erin", content=LEAK, kind="output").id
    before = counts(ctx, TABLES)
    with pytest.raises(NotAuthorised, match="cannot read sealed evidence"):
        evidence.read_original(ctx, eid, actor="grace", reason="curious")  # comms
    with pytest.raises(InvalidInput, match="reason"):
        evidence.read_original(ctx, eid, actor="ivan", reason="  ")
    with pytest.raises(NotAuthorised, match="unknown person"):
        evidence.read_original(ctx, eid, actor="mallory", reason="x")
    assert counts(ctx, TABLES) == before
    # ivan is legal's primary: counsel reads without having been paged into the incident.
    assert evidence.read_original(ctx, eid, actor="ivan", reason="counsel review") == LEAK
    assert evidence.read_original(ctx, eid, actor="alice", reason="timeline") == LEAK
    assert audit_kinds(ctx, iid)[-2:] == ["evidence.read", "evidence.read"]
    with Session(ctx.engine) as s:
        reads = s.exec(select(EvidenceRead).where(EvidenceRead.evidence_id == eid)).all()
    assert [(r.reader, r.reason) for r in reads] == [
        ("ivan", "counsel review"),
        ("alice", "timeline"),
    ]


def test_verify_names_a_changed_and_a_missing_object(ctx: Context, store: EvidenceStore) -> None:
    iid = _incident(ctx)
    one = evidence.add(ctx, iid, actor="erin", content=b"prompt one", kind="prompt")
    two = evidence.add(ctx, iid, actor="erin", content=b"prompt two", kind="prompt")
    assert evidence.verify(ctx).ok
    tamper(store, one.sha256, b"prompt one, edited")
    remove(store, two.sha256)
    report = evidence.verify(ctx)
    assert report.changed == (one.sha256,) and report.missing == (two.sha256,)
    with pytest.raises(Conflict, match="no longer matches"):
        evidence.read_original(ctx, one.id, actor="ivan", reason="check")


def _ended_a_year_ago(ctx: Context, clock: ManualClock, klass: IncidentClass) -> tuple[str, str]:
    iid = _incident(ctx, klass)
    sha = evidence.add(ctx, iid, actor="erin", content=f"trace {iid}".encode()).sha256
    resolve(ctx, iid, actor="alice", summary="rolled back")
    return iid, sha


def test_retention_deletes_what_expired_except_under_a_legal_hold(
    ctx: Context, clock: ManualClock, store: EvidenceStore
) -> None:
    expiring, gone = _ended_a_year_ago(ctx, clock, IncidentClass.FUNCTIONAL)
    held, kept = _ended_a_year_ago(ctx, clock, IncidentClass.FUNCTIONAL)
    _, kept_longer = _ended_a_year_ago(ctx, clock, IncidentClass.DATA_LEAKAGE)
    still_open = _incident(ctx, IncidentClass.FUNCTIONAL)
    open_sha = evidence.add(ctx, still_open, actor="erin", content=b"open one").sha256
    place_hold(ctx, held, actor="ivan", reason="litigation notice")
    clock.advance(timedelta(days=366))
    done = run_retention(ctx)
    assert [(d.incident_id, d.sha256, d.object_deleted) for d in done] == [(expiring, gone, True)]
    assert not store.exists(gone)
    assert all(store.exists(s) for s in (kept, kept_longer, open_sha))
    assert "evidence.deleted" in audit_kinds(ctx, expiring)
    with Session(ctx.engine) as s:
        row = s.exec(select(Evidence).where(Evidence.sha256 == gone)).one()
    assert row.deleted_at is not None and "retention" in (row.deleted_reason or "")
    assert run_retention(ctx) == []  # nothing twice
    # Only legal releases the hold; then the next run deletes.
    with pytest.raises(NotAuthorised, match="legal"):
        release_hold(ctx, held, actor="alice", reason="done")
    with pytest.raises(InvalidInput, match="reason"):
        release_hold(ctx, held, actor="ivan", reason=" ")
    release_hold(ctx, held, actor="ivan", reason="matter settled")
    assert audit_kinds(ctx, held)[-1] == "hold.released"
    assert [d.incident_id for d in run_retention(ctx)] == [held]


def test_export_verifies_and_a_tampered_copy_does_not(
    ctx: Context, store: EvidenceStore, tmp_path: Path
) -> None:
    iid = _incident(ctx)
    item = evidence.add(ctx, iid, actor="erin", content=LEAK, kind="output")
    out = tmp_path / "export.zip"
    with pytest.raises(NotAuthorised):
        export(ctx, iid, out=out, actor="grace", reason="x", secret=b"key")
    assert not out.exists()
    manifest = export(ctx, iid, out=out, actor="ivan", reason="regulator request", secret=b"key")
    assert f"evidence/{item.sha256}" in manifest["files"]
    assert {"incident.json", "audit/events.jsonl", "audit/verification.json"} <= set(
        manifest["files"]
    )
    assert verify_archive(out, secret=b"key").ok
    with zipfile.ZipFile(out) as archive:
        assert archive.read(f"evidence/{item.sha256}") == LEAK
        assert b"incident.exported" in archive.read("audit/events.jsonl")
    assert "evidence.read" not in audit_kinds(ctx, iid)  # exporting is its own event

    # Verified in a separate process that has only the archive and the key.
    env = {"COMMANDPOST_EXPORT_SIGNING_SECRET": "key", "COMMANDPOST_POLICY": str(POLICY_FILE)}
    assert run_cli("export-verify", str(out), env=env).returncode == 0
    tampered = tmp_path / "tampered.zip"
    target = f"evidence/{item.sha256}"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(tampered, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, b"nothing to see" if name == target else src.read(name))
    bad = run_cli("export-verify", str(tampered), env=env)
    assert bad.returncode == 1 and f"CHANGED {target}" in bad.stderr
