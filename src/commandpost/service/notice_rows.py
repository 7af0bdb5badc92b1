"""What the notice operations share: loading under the incident's lock, re-linting, views.

`NoticeView` is what a review card shows (text, findings, approvals, deliveries, what is
still needed); it is plain data, so chat adapters never see a table row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from commandpost.core.notice_lint import Channel, Finding, LintContext, lint
from commandpost.core.policy import Policy
from commandpost.core.vocabulary import IncidentClass, Severity
from commandpost.errors import NotFound
from commandpost.notices import Catalogue
from commandpost.service.context import Context, load_incident
from commandpost.settings import Settings
from commandpost.storage import models as m
from commandpost.storage.notice_models import Notice, NoticeApproval, NoticeDelivery

APPROVER_ROLES = ("comms", "legal")
# Deliveries that may still go out; the others are settled one way or another.
OPEN_DELIVERY = ("queued", "retrying")


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def catalogue_for(policy: Policy) -> Catalogue:
    # A relative templates_dir is read from the policy file's folder, as the CLI does.
    return Catalogue.for_policy(policy, base_dir=Path(Settings().policy).resolve().parent)


def locked(session: Session, ctx: Context, notice_id: int) -> tuple[m.Incident, Notice]:
    """The notice and its incident, the incident locked: every change to a notice takes the
    incident's lock first, as every other change to an incident does."""
    incident_id = session.exec(select(Notice.incident_id).where(Notice.id == notice_id)).first()
    if incident_id is None:
        raise NotFound(f"no notice #{notice_id}")
    incident = load_incident(session, incident_id, lock=True)
    notice = session.get(Notice, notice_id, populate_existing=True)
    assert notice is not None
    return incident, notice


def lint_context(incident: m.Incident, notice: Notice) -> LintContext:
    """The draft's lint context, with the incident's severity as it is now."""
    facts: dict[str, Any] = json.loads(notice.facts)
    return LintContext(
        severity=Severity(incident.severity),
        root_cause_known=bool(facts.get("root_cause")),
        channel=Channel(notice.channel),
        facts=facts,
        required_facts=tuple(json.loads(notice.requires)),
    )


def relint(incident: m.Incident, notice: Notice) -> list[Finding]:
    """Lint the current text and store the result on the notice."""
    findings = lint(notice.text, lint_context(incident, notice))
    notice.findings = json.dumps([f.to_dict() for f in findings])
    return findings


def compact(findings: list[Finding]) -> list[dict[str, Any]]:
    """Findings for an audit event: rule, blocking and the offending text."""
    return [{"rule": f.rule, "blocking": f.blocking, "text": f.span.text} for f in findings]


def active_approvals(session: Session, notice: Notice) -> list[NoticeApproval]:
    """Approvals of the current text: not voided, bound to its hash."""
    query = select(NoticeApproval).where(
        NoticeApproval.notice_id == notice.id,
        col(NoticeApproval.voided_at).is_(None),
        NoticeApproval.sha256 == notice.sha256,
    )
    return list(session.exec(query.order_by(col(NoticeApproval.id))))


def needs_legal(policy: Policy, incident: m.Incident) -> bool:
    return policy.notices.needs_legal(Severity(incident.severity), IncidentClass(incident.klass))


@dataclass(frozen=True)
class ApprovalView:
    person_id: str
    role: str
    sha256: str
    at: str
    override_reason: str | None
    void: bool


@dataclass(frozen=True)
class DeliveryView:
    kind: str
    recipient: str
    state: str
    attempts: int
    sha256: str
    delivered_sha256: str | None
    error: str | None
    detail: str | None


@dataclass(frozen=True)
class NoticeView:
    """One notice as a reviewer sees it; `findings` are `Finding.to_dict()` dicts."""

    id: int
    incident_id: str
    template: str
    channel: str
    subject: str | None
    text: str
    sha256: str
    version: int
    state: str
    reason: str | None
    created_by: str
    findings: tuple[dict[str, Any], ...]
    approvals: tuple[ApprovalView, ...]
    deliveries: tuple[DeliveryView, ...]
    still_needed: tuple[str, ...]  # approver roles the current text still needs

    @property
    def blocking(self) -> tuple[dict[str, Any], ...]:
        return tuple(f for f in self.findings if f["blocking"])


def view(session: Session, ctx: Context, notice: Notice) -> NoticeView:
    assert notice.id is not None
    incident = session.get(m.Incident, notice.incident_id)
    assert incident is not None
    approvals = list(
        session.exec(
            select(NoticeApproval)
            .where(NoticeApproval.notice_id == notice.id)
            .order_by(col(NoticeApproval.id))
        )
    )
    deliveries = list(
        session.exec(
            select(NoticeDelivery)
            .where(NoticeDelivery.notice_id == notice.id)
            .order_by(col(NoticeDelivery.id))
        )
    )
    required = {"comms"} | ({"legal"} if needs_legal(ctx.policy_for(incident), incident) else set())
    have = {a.role for a in approvals if a.voided_at is None and a.sha256 == notice.sha256}
    pending = () if notice.state != "draft" else tuple(r for r in APPROVER_ROLES if r in required)
    return NoticeView(
        id=notice.id,
        incident_id=notice.incident_id,
        template=notice.template,
        channel=notice.channel,
        subject=notice.subject,
        text=notice.text,
        sha256=notice.sha256,
        version=notice.version,
        state=notice.state,
        reason=notice.reason,
        created_by=notice.created_by,
        findings=tuple(json.loads(notice.findings)),
        approvals=tuple(
            ApprovalView(
                person_id=a.person_id,
                role=a.role,
                sha256=a.sha256,
                at=a.at.isoformat(timespec="seconds"),
                override_reason=a.override_reason,
                void=a.voided_at is not None or a.sha256 != notice.sha256,
            )
            for a in approvals
        ),
        deliveries=tuple(
            DeliveryView(
                kind=d.kind,
                recipient=d.recipient,
                state=d.state,
                attempts=d.attempts,
                sha256=d.sha256,
                delivered_sha256=d.delivered_sha256,
                error=d.error,
                detail=d.detail,
            )
            for d in deliveries
        ),
        still_needed=tuple(r for r in pending if r not in have),
    )
