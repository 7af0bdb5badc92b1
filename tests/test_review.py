"""The post-incident review: opened at resolve, edited with an audited diff, done by the IC
only, and `close` refused until it is done."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from commandpost.chat.console import ConsoleChat
from commandpost.core.gates import Decision
from commandpost.core.policy import Policy
from commandpost.core.vocabulary import IncidentClass, Severity, Status
from commandpost.errors import Conflict, InvalidInput, NotAuthorised, NotFound
from commandpost.service import gates, notices, outbox, review
from commandpost.service.context import Context
from commandpost.service.incidents import change_status, close, get_incident, resolve
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m

from .conftest import MakeCtx
from .noticesupport import NEXT_STEPS, review_incident, with_channels
from .support import (
    TABLES,
    RecordingExecutor,
    audit_kinds,
    contain,
    counts,
    declare_incident,
    staff,
)

WITH_REVIEWS = (*TABLES, "reviews")


def events(ctx: Context, incident_id: str, kind: str) -> list[dict[str, object]]:
    with Session(ctx.engine) as s:
        rows = s.exec(
            select(m.AuditEvent)
            .where(m.AuditEvent.incident_id == incident_id, m.AuditEvent.kind == kind)
            .order_by(col(m.AuditEvent.seq))
        )
        return [json.loads(r.data) for r in rows]


def resolved_incident(ctx: Context, clock: ManualClock) -> tuple[str, int]:
    """A SEV1 rollback: alice (IC) acks at 2m, erin approves at 12m, resolved at 45m."""
    incident = declare_incident(
        ctx, "Assistant invents refund policy", IncidentClass.DECEPTIVE_OUTPUT
    )
    clock.advance(timedelta(minutes=2))
    staff(ctx, incident, "alice", "erin", "carol", "grace")
    gate = contain(ctx, incident, requester="carol")
    clock.advance(timedelta(minutes=10))
    gates.decide(ctx, gate, actor="erin", decision=Decision.APPROVE, reason="known good")
    outbox.deliver(ctx)
    clock.advance(timedelta(minutes=33))
    resolve(ctx, incident, actor="alice", summary="rolled back to 2026-02-01")
    outbox.deliver(ctx)
    return incident, gate


def test_resolve_opens_a_prefilled_draft(
    make_ctx: MakeCtx, clock: ManualClock, chat: ConsoleChat
) -> None:
    ctx = make_ctx(executor=RecordingExecutor())
    incident, gate = resolved_incident(ctx, clock)
    row = review.get(ctx, incident)
    assert row.state == "draft" and row.version == 1 and row.done_by is None
    text = row.text
    assert text.startswith(f"# Post-incident review: {incident}\n")
    # Against the SEV1 SLAs: ack 10m, first mitigation 30m, notify 2h, resolve 3d.
    assert "| acknowledged | 2026-03-02 09:02:00Z | 2m | 10m | met |" in text
    assert "| contained | 2026-03-02 09:12:00Z | 12m | 30m | met |" in text
    # Resolved at 45m: the 2h notify SLA was not yet due when the clock stopped.
    assert "| notified | not reached | - | 2h | not reached |" in text
    assert "| resolved | 2026-03-02 09:45:00Z | 45m | 3d | met |" in text
    assert f"Gate #{gate} (containment: rollback_model), requested by carol" in text
    assert "2026-03-02 09:12:00Z erin (safety_lead): approve (known good)" in text
    assert "No notice was delivered." in text
    for section in ("## Timeline", "## Contributing factors", "## What worked", "## Action items"):
        assert section in text
    assert "| Action | Owner | Due |" in text
    assert "incident.declared" in text and "gate.approve" in text
    assert events(ctx, incident, "review.opened") == [{"sha256": row.sha256}]
    posted = "\n".join(chat.messages_to("#" + get_incident(ctx, incident).channel))
    assert "Post-incident review draft opened" in posted


def test_the_notice_sent_and_time_to_notify_are_in_the_review(
    make_ctx: MakeCtx, policy: Policy, clock: ManualClock
) -> None:
    ctx = make_ctx(use_policy=with_channels(
        policy, {"customer_initial": [{"type": "chat", "channel": "incident"}]}
    ))  # fmt: skip
    incident = review_incident(ctx)  # SEV1 data leak, everyone staffed at 09:00
    clock.advance(timedelta(minutes=25))
    made = notices.draft(
        ctx, incident, template="customer_initial", actor="grace", facts={"next_steps": NEXT_STEPS}
    )
    notices.approve(ctx, made.id, actor="grace")
    notices.approve(ctx, made.id, actor="ivan", role="legal")
    clock.advance(timedelta(minutes=5))
    outbox.deliver(ctx)  # delivered at 30m
    change_status(ctx, incident, status=Status.INVESTIGATING, actor="alice")
    clock.advance(timedelta(hours=2))
    resolve(ctx, incident, actor="alice", summary="retrieval change reverted")
    text = review.get(ctx, incident).text
    assert "| notified | 2026-03-02 09:30:00Z | 30m | 2h | met |" in text
    # Never contained, resolved after 2h30m: past the 30m first-mitigation SLA.
    assert "| contained | not reached | - | 30m | BREACHED (not reached) |" in text
    assert (
        f"Notice #{made.id} (customer_initial), approved by grace (comms), ivan (legal); "
        f"first delivered 2026-03-02 09:30:00Z to 1 recipient(s), sha256 {made.sha256[:12]}…"
    ) in text


def test_close_waits_for_the_review_done_by_the_ic_only(
    make_ctx: MakeCtx, clock: ManualClock
) -> None:
    ctx = make_ctx(executor=RecordingExecutor())
    incident, _ = resolved_incident(ctx, clock)
    before = counts(ctx, WITH_REVIEWS)
    with pytest.raises(Conflict) as refused:
        close(ctx, incident, actor="alice")
    assert "review is done" in str(refused.value)
    assert f"commandpost review done {incident}" in str(refused.value)
    # Not the IC: refused however senior, and nothing is written.
    for person in ("erin", "carol", "mo"):
        with pytest.raises(NotAuthorised, match="incident_commander"):
            review.mark_done(ctx, incident, actor=person)
    with pytest.raises(NotAuthorised, match="unknown person"):
        review.mark_done(ctx, incident, actor="mallory")
    assert counts(ctx, WITH_REVIEWS) == before
    assert get_incident(ctx, incident).status == "resolved"

    clock.advance(timedelta(hours=1))
    done = review.mark_done(ctx, incident, actor="alice")
    assert (done.state, done.done_by, done.done_at) == ("done", "alice", clock.now())
    with pytest.raises(Conflict, match="already done"):
        review.mark_done(ctx, incident, actor="alice")
    close(ctx, incident, actor="alice")
    assert get_incident(ctx, incident).status == "closed"
    assert audit_kinds(ctx, incident)[-2:] == ["review.done", "incident.closed"]
    assert events(ctx, incident, "review.done") == [{"version": 1, "sha256": done.sha256}]


def test_edit_is_audited_with_a_diff_and_refused_when_bad(
    make_ctx: MakeCtx, clock: ManualClock
) -> None:
    ctx = make_ctx(executor=RecordingExecutor())
    incident, _ = resolved_incident(ctx, clock)
    original = review.get(ctx, incident)
    before = counts(ctx, WITH_REVIEWS)
    for text, error in (("", InvalidInput), ("   \n", InvalidInput), (original.text, InvalidInput)):
        with pytest.raises(error):
            review.edit(ctx, incident, actor="carol", text=text)
    with pytest.raises(NotAuthorised):  # in the policy, but holds no role here
        review.edit(ctx, incident, actor="kai", text="x")
    assert counts(ctx, WITH_REVIEWS) == before

    filled = original.text.replace(
        "## Contributing factors\n\n_(to be written)_",
        "## Contributing factors\n\n- The retrieval change shipped without the eval gate.",
    )
    edited = review.edit(ctx, incident, actor="carol", text=filled)
    assert edited.version == 2 and edited.text == filled and edited.updated_by == "carol"
    [event] = events(ctx, incident, "review.edited")
    assert event["sha256_before"] == original.sha256 and event["sha256"] == edited.sha256
    diff = event["diff"]
    assert isinstance(diff, list)
    assert "-_(to be written)_" in diff
    assert "+- The retrieval change shipped without the eval gate." in diff
    assert diff[0] == f"--- review-{incident}-v1" and diff[1] == f"+++ review-{incident}-v2"

    review.mark_done(ctx, incident, actor="alice")
    after_done = counts(ctx, WITH_REVIEWS)
    with pytest.raises(Conflict, match="is done"):
        review.edit(ctx, incident, actor="alice", text=filled + "\nmore")
    assert counts(ctx, WITH_REVIEWS) == after_done
    assert review.get(ctx, incident).text == filled


def test_no_review_before_resolve_and_a_reopen_keeps_the_text(
    make_ctx: MakeCtx, clock: ManualClock
) -> None:
    ctx = make_ctx(executor=RecordingExecutor())
    incident = declare_incident(
        ctx, "Bias in ranking", IncidentClass.BIAS_REGRESSION, Severity.SEV2
    )
    staff(ctx, incident, "alice")
    with pytest.raises(NotFound, match="opened when it is resolved"):
        review.get(ctx, incident)
    with pytest.raises(NotFound):
        review.mark_done(ctx, incident, actor="alice")
    resolve(ctx, incident, actor="alice", summary="false alarm")
    edited = review.edit(ctx, incident, actor="alice", text="# Our own words\n")
    change_status(ctx, incident, status=Status.INVESTIGATING, actor="alice", note="it is back")
    clock.advance(timedelta(hours=1))
    resolve(ctx, incident, actor="alice", summary="fixed this time")
    kept = review.get(ctx, incident)
    assert kept.text == "# Our own words\n" and kept.version == edited.version
    assert audit_kinds(ctx, incident).count("review.opened") == 1
