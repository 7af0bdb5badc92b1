"""What a signed notice-review link may do, checked against the database, and the decision.

    load(ctx, claims)             the notice as the review page shows it; LinkRefused when
                                  the link is spent, the notice is gone, no longer a draft,
                                  or its text no longer hashes to what the card showed
    decide(ctx, claims, ...)      spend the link, then approve or reject through
                                  `service.notices`
    eligible_reviewers(...)       who gets Approve / Reject links on a review card

As with gate links (`approval_flow`), the nonce is stored before the decision and given
back if the service refuses, so a refusal writes nothing and two submits of one link race
on the nonce's primary key. Every rule (comms and legal roles, acknowledged; one person
never both; a blocking finding needs an override reason; the text's hash) stays in the
service: an approval passes the link's text hash as `expected_sha256`, which the service
checks again under the incident's lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlmodel import Session

from commandpost.chat.teams.approvals import LinkRefused
from commandpost.chat.teams.link_uses import spend_then
from commandpost.chat.teams.notice_links import NoticeClaims
from commandpost.core.policy import Person, Policy
from commandpost.core.vocabulary import Role
from commandpost.service import notices
from commandpost.service.context import Context
from commandpost.service.notice_rows import APPROVER_ROLES, NoticeView, view
from commandpost.service.roles import roles_of
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction
from commandpost.storage.notice_models import Notice
from commandpost.storage.teams_models import TeamsNoticeLinkUse

APPROVE = "approve"
REJECT = "reject"
# Who may turn a notice down, as `service.notices` allows: its approvers or the commander.
REJECTERS = frozenset({*APPROVER_ROLES, Role.INCIDENT_COMMANDER.value})


@dataclass(frozen=True)
class NoticePage:
    """Everything the review page shows: the notice, its incident, who is reviewing."""

    claims: NoticeClaims
    reviewer: str  # display name of the link's person
    incident_title: str
    notice: NoticeView
    names: Mapping[str, str]  # person id -> display name, for the approvals so far
    # An earlier approver's override covers this text: no second reason is asked for.
    overridden: bool


def load(ctx: Context, claims: NoticeClaims) -> NoticePage:
    with read_transaction(ctx.engine) as session:
        if session.get(TeamsNoticeLinkUse, claims.nonce) is not None:
            raise LinkRefused("used", "This review link was already used. Each link decides once.")
        notice = session.get(Notice, claims.notice_id)
        if notice is None or notice.incident_id != claims.incident_id:
            raise LinkRefused(
                "unknown", f"There is no notice #{claims.notice_id} in this incident."
            )
        incident = session.get(m.Incident, notice.incident_id)
        assert incident is not None
        policy = ctx.policy_for(incident)
        person = policy.person(claims.person_id)
        if person is None:
            raise LinkRefused("unknown", "This link names someone who is not in the policy.")
        if notice.sha256 != claims.text_hash:
            raise LinkRefused(
                "changed",
                f"Notice #{notice.id}'s text changed after this link was issued (it was sha256"
                f" {claims.text_hash[:12]}…, it is now {notice.sha256[:12]}…). Nothing was"
                " recorded; review the text on the newest card.",
            )
        if notice.state != "draft":
            raise LinkRefused(
                "decided",
                f"Notice #{notice.id} is already {notice.state}: there is nothing to decide.",
            )
        shown = view(session, ctx, notice)
        ids = {shown.created_by, *(a.person_id for a in shown.approvals)}
        return NoticePage(
            claims=claims,
            reviewer=person.name,
            incident_title=incident.title,
            notice=shown,
            names={i: _name(policy, i) for i in ids},
            overridden=any(a.override_reason and not a.void for a in shown.approvals),
        )


def _name(policy: Policy, person_id: str) -> str:
    person = policy.person(person_id)
    return person.name if person is not None else person_id


def decide(ctx: Context, claims: NoticeClaims, *, decision: str, reason: str | None) -> NoticeView:
    """Spend the link and approve (`reason` is then the override reason) or reject; the
    service's UserError, or LinkRefused, with nothing written, when it may not."""
    if decision not in (APPROVE, REJECT):
        raise ValueError(f"not a notice decision: {decision!r}")
    page = load(ctx, claims)
    use = TeamsNoticeLinkUse(
        nonce=claims.nonce,
        notice_id=claims.notice_id,
        person_id=claims.person_id,
        decision=decision,
        used_at=ctx.now(),
    )

    def act() -> NoticeView:
        if decision == REJECT:
            return notices.reject(
                ctx, claims.notice_id, actor=claims.person_id, reason=reason or ""
            )
        return notices.approve(
            ctx,
            claims.notice_id,
            actor=claims.person_id,
            role=role_for(page.notice, _held(ctx, page.notice, claims.person_id)),
            override_reason=reason,
            expected_sha256=claims.text_hash,
        )

    return spend_then(ctx, use, decide=act, used="This review link was already used.")


def _held(ctx: Context, shown: NoticeView, person_id: str) -> frozenset[str]:
    with read_transaction(ctx.engine) as session:
        incident = session.get(m.Incident, shown.incident_id)
        assert incident is not None
        policy = ctx.policy_for(incident)
        return roles_of(session, policy, incident.id, person_id, staffed_only=True)


def role_for(shown: NoticeView, held: frozenset[str]) -> str:
    """The approver role to use, as Slack's card chooses it: one still needed that the
    person holds; else the first still needed (the service then says what is missing)."""
    for role in shown.still_needed:
        if role in held:
            return role
    return next(iter(shown.still_needed), APPROVER_ROLES[0])


@dataclass(frozen=True)
class Reviewer:
    person: Person
    roles: tuple[str, ...]  # the reviewing roles they hold (comms, legal, incident commander)
    may_approve: bool  # holds an approver role the text still needs, and has not approved


def eligible_reviewers(session: Session, policy: Policy, shown: NoticeView) -> list[Reviewer]:
    """People who could approve or reject the draft: holders, or paged holders (they can
    acknowledge and then use the link), of comms, legal or incident commander. Someone who
    already approved this text gets no Approve link. The service checks again on use."""
    if shown.state != "draft":
        return []
    approved = {a.person_id for a in shown.approvals if not a.void}
    found = []
    for person in policy.people:
        held = roles_of(session, policy, shown.incident_id, person.id) & REJECTERS
        if not held:
            continue
        may_approve = person.id not in approved and bool(held & set(shown.still_needed))
        found.append(Reviewer(person=person, roles=tuple(sorted(held)), may_approve=may_approve))
    return found
