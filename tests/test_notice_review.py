"""The review flow on both database lanes: who may approve, what voids an approval, what is
refused, and that a refusal writes nothing."""

from __future__ import annotations

import pytest

from commandpost.core.policy import Policy
from commandpost.core.vocabulary import Role, Severity
from commandpost.errors import Conflict, InvalidInput, NotAuthorised
from commandpost.service import notices, roles
from commandpost.service.context import Context

from .conftest import MakeCtx
from .noticesupport import NEXT_STEPS, review_incident, with_channels
from .support import TABLES, audit_kinds, counts, staff

ALL = (*TABLES, "notices", "notice_approvals", "notice_deliveries")


def _draft(ctx: Context, incident: str) -> notices.NoticeView:
    return notices.draft(
        ctx, incident, template="customer_initial", actor="grace", facts={"next_steps": NEXT_STEPS}
    )


def test_a_missing_fact_is_listed_and_nothing_is_stored(ctx: Context) -> None:
    incident = review_incident(ctx)
    before = counts(ctx, ALL)
    with pytest.raises(InvalidInput, match=r"missing fact\(s\): next_steps$|next_steps;"):
        notices.draft(ctx, incident, template="customer_initial", actor="grace")
    with pytest.raises(InvalidInput) as caught:
        notices.draft(ctx, incident, template="regulator_notification", actor="grace")
    assert "people_affected, measures, next_steps" in str(caught.value)
    assert counts(ctx, ALL) == before


def test_a_draft_is_linted_stored_and_audited(ctx: Context) -> None:
    incident = review_incident(ctx)
    made = _draft(ctx, incident)
    assert made.state == "draft" and made.version == 1
    assert made.still_needed == ("comms", "legal")  # SEV1 data leakage: legal co-approves
    assert "notice.drafted" in audit_kinds(ctx, incident)
    assert notices.list_notices(ctx, incident)[0].id == made.id


def test_an_edit_after_approval_voids_it(make_ctx: MakeCtx, policy: Policy) -> None:
    ctx = make_ctx(use_policy=with_channels(policy, {}))
    incident = review_incident(ctx, Severity.SEV2)
    # SEV2 is not legal's by severity, but data leakage is, by class.
    made = _draft(ctx, incident)
    first = notices.approve(ctx, made.id, actor="grace")
    assert [a.void for a in first.approvals] == [False]
    edited = notices.edit(ctx, made.id, actor="grace", text=made.text + "\nThank you.\n")
    assert [a.void for a in edited.approvals] == [True]
    assert edited.still_needed == ("comms", "legal") and edited.sha256 != made.sha256
    # Approving the new text starts over; the old approval does not count.
    notices.approve(ctx, made.id, actor="grace")
    done = notices.approve(ctx, made.id, actor="ivan", role="legal")
    assert done.state == "approved"
    assert {a.sha256 for a in done.approvals if not a.void} == {edited.sha256}


def test_an_edit_of_a_fully_approved_notice_cancels_its_deliveries(
    make_ctx: MakeCtx, policy: Policy
) -> None:
    ctx = make_ctx(use_policy=with_channels(
        policy, {"customer_initial": [{"type": "chat", "channel": "#status"}]}
    ))  # fmt: skip
    incident = review_incident(ctx)
    made = _draft(ctx, incident)
    notices.approve(ctx, made.id, actor="grace")
    notices.approve(ctx, made.id, actor="ivan", role="legal")
    edited = notices.edit(ctx, made.id, actor="grace", text=made.text + "\nThank you.\n")
    assert edited.state == "draft"
    assert [(d.state, d.sha256) for d in edited.deliveries] == [("cancelled", made.sha256)]


def test_one_person_cannot_approve_as_comms_and_as_legal(ctx: Context) -> None:
    incident = review_incident(ctx)
    roles.assign(ctx, incident, role=Role.LEGAL, person_id="grace", actor="alice")
    staff(ctx, incident, "grace")
    made = _draft(ctx, incident)
    notices.approve(ctx, made.id, actor="grace", role="comms")
    before = counts(ctx, ALL)
    with pytest.raises(NotAuthorised, match="cannot approve as both comms and legal"):
        notices.approve(ctx, made.id, actor="grace", role="legal")
    assert counts(ctx, ALL) == before


def test_only_an_acknowledged_holder_of_the_role_approves(ctx: Context) -> None:
    incident = review_incident(ctx)
    made = _draft(ctx, incident)
    with pytest.raises(NotAuthorised, match="comms role"):
        notices.approve(ctx, made.id, actor="alice", role="comms")
    with pytest.raises(NotAuthorised, match="legal role"):
        notices.approve(ctx, made.id, actor="grace", role="legal")
    roles.assign(ctx, incident, role=Role.LEGAL, person_id="jo", actor="alice")  # paged, no ack
    with pytest.raises(NotAuthorised, match="acknowledge first"):
        notices.approve(ctx, made.id, actor="jo", role="legal")
    with pytest.raises(InvalidInput, match="comms or legal"):
        notices.approve(ctx, made.id, actor="grace", role="ceo")


def test_a_blocking_finding_needs_a_written_override(ctx: Context) -> None:
    incident = review_incident(ctx)
    made = _draft(ctx, incident)
    text = made.text + "\nWe believe a rogue engineer caused this on purpose.\n"
    notices.edit(ctx, made.id, actor="grace", text=text)
    with pytest.raises(InvalidInput, match="blocking lint finding"):
        notices.approve(ctx, made.id, actor="grace")
    with pytest.raises(InvalidInput, match="written reason"):
        notices.approve(ctx, made.id, actor="grace", override_reason="   ")
    notices.approve(ctx, made.id, actor="grace", override_reason="the regulator asked us to")
    # The override stands for this text: legal approves it knowing who overrode.
    done = notices.approve(ctx, made.id, actor="ivan", role="legal")
    assert done.state == "approved"
    kinds = audit_kinds(ctx, incident)
    assert kinds.count("notice.overridden") == 1 and kinds.count("notice.approved") == 2


def test_reject_needs_a_reason_and_is_final(ctx: Context) -> None:
    incident = review_incident(ctx)
    made = _draft(ctx, incident)
    with pytest.raises(InvalidInput, match="reason"):
        notices.reject(ctx, made.id, actor="ivan", reason=" ")
    with pytest.raises(NotAuthorised):
        notices.reject(ctx, made.id, actor="carol", reason="not my call")
    gone = notices.reject(ctx, made.id, actor="ivan", reason="names a tenant")
    assert gone.state == "rejected" and gone.reason == "names a tenant"
    with pytest.raises(Conflict, match="rejected"):
        notices.approve(ctx, made.id, actor="grace")
    with pytest.raises(Conflict, match="rejected"):
        notices.edit(ctx, made.id, actor="grace", text="anything else")
    assert "notice.rejected" in audit_kinds(ctx, incident)


def test_approving_twice_is_a_conflict(ctx: Context) -> None:
    incident = review_incident(ctx)
    made = _draft(ctx, incident)
    notices.approve(ctx, made.id, actor="grace")
    with pytest.raises(Conflict, match="already approved"):
        notices.approve(ctx, made.id, actor="grace")
