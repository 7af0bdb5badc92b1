"""Append-only rows are batched per transaction: written at commit, in order, or not at all."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from commandpost.core.effects import ChannelPost
from commandpost.core.vocabulary import IncidentClass
from commandpost.service import audit_log
from commandpost.service.context import Context, audit, enqueue, load_incident
from commandpost.storage import models as m
from commandpost.storage.engine import transaction

from .support import counts, declare_incident


class Boom(Exception):
    pass


def test_rows_appended_in_a_transaction_are_written_in_order_at_commit(ctx: Context) -> None:
    incident_id = declare_incident(ctx, "Appends", IncidentClass.FUNCTIONAL)
    before = counts(ctx, ["audit_events", "outbox"])
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        for n in range(5):
            audit(session, ctx, incident, actor="alice", kind="note.added", n=n)
            enqueue(
                session,
                ctx,
                ChannelPost(channel="#c", text=f"post {n}", incident_id=incident_id),
            )
    after = counts(ctx, ["audit_events", "outbox"])
    assert after["audit_events"] == before["audit_events"] + 5
    assert after["outbox"] == before["outbox"] + 5
    events = audit_log.incident_events(ctx, incident_id)[-5:]
    assert [e.data for e in events] == [f'{{"n":{n}}}' for n in range(5)]
    assert audit_log.verify(ctx).ok


def test_a_rollback_drops_appended_rows_and_leaves_the_head(ctx: Context) -> None:
    incident_id = declare_incident(ctx, "Appends", IncidentClass.FUNCTIONAL)
    before = counts(ctx, ["audit_events", "outbox"])
    with pytest.raises(Boom), transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        audit(session, ctx, incident, actor="alice", kind="note.added", n=1)
        enqueue(session, ctx, ChannelPost(channel="#c", text="lost", incident_id=incident_id))
        raise Boom
    assert counts(ctx, ["audit_events", "outbox"]) == before
    # The next append continues the chain from the stored head, not the rolled-back one.
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        audit(session, ctx, incident, actor="alice", kind="note.added", n=2)
    report = audit_log.verify(ctx)
    assert report.ok, report


def test_a_query_in_the_same_transaction_reads_its_own_appended_rows(ctx: Context) -> None:
    incident_id = declare_incident(ctx, "Appends", IncidentClass.FUNCTIONAL)
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        audit(session, ctx, incident, actor="alice", kind="note.added", n=7)
        enqueue(session, ctx, ChannelPost(channel="#c", text="seen", incident_id=incident_id))
        last = session.exec(select(m.AuditEvent).order_by(col(m.AuditEvent.seq).desc())).first()
        texts = list(session.exec(select(m.OutboxItem.body)))
        assert last is not None and last.data == '{"n":7}'
        assert any('"seen"' in body for body in texts)
        # Appending after the read keeps the chain intact.
        audit(session, ctx, incident, actor="alice", kind="note.added", n=8)
    assert audit_log.verify(ctx).ok
