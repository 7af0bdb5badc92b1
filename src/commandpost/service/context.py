"""What every service operation runs with, and the helpers they share inside a transaction."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, event
from sqlalchemy.orm import object_session
from sqlmodel import Session, SQLModel, select

from commandpost.core.audit import AuditRecord
from commandpost.core.effects import (
    ChannelPost,
    DirectMessage,
    Effect,
    ExecuteAction,
    OpenChannel,
    SendNotice,
)
from commandpost.core.policy import Person, Policy
from commandpost.errors import NotAuthorised, NotFound
from commandpost.service.audit_append import record
from commandpost.service.ports import (
    ChatPort,
    Clock,
    EvidenceStore,
    ExecutorPort,
    NoticeSenderPort,
    RefusingNoticeSender,
)
from commandpost.storage import models as m
from commandpost.storage.append import append
from commandpost.storage.engine import lock_audit_chain

OUTBOX: Table = SQLModel.metadata.tables[m.OutboxItem.__tablename__]
CLAIM_LEASE = timedelta(minutes=2)  # longer than any one delivery takes (timeouts: 10 s)
_HANDED = "commandpost.handed_over"


@dataclass
class Context:
    engine: Engine
    policy: Policy
    clock: Clock
    chat: ChatPort
    executor: ExecutorPort
    _policies: dict[str, Policy] = field(default_factory=dict)
    # Email and webhook delivery of approved notices (runtime.build_context wires the real one).
    notice_sender: NoticeSenderPort = field(default_factory=RefusingNoticeSender)
    # Sealed evidence; None: the store COMMANDPOST_EVIDENCE_DIR names, opened on first use
    # (service.evidence.store_for).
    evidence: EvidenceStore | None = None
    # A deliverer in this process that takes channel openings straight after their commit:
    # they are written already claimed (a lease, as a deliverer claims) and handed over by
    # incident id, so a new incident's channel waits for no read and no claim of its own.
    hand_over: Callable[[str], None] | None = None

    def now(self) -> datetime:
        return self.clock.now()

    def policy_for(self, incident: m.Incident) -> Policy:
        """An incident runs under the policy it was declared with, even after the file changes."""
        version = incident.policy_version
        if version == self.policy.version():
            return self.policy
        if version not in self._policies:
            # Read through the incident's own session: a second SQLite connection would wait
            # on the write lock that session already holds.
            session = object_session(incident)
            if session is not None:
                snapshot = session.get(m.PolicySnapshot, version)
            else:
                from commandpost.storage.engine import transaction

                with transaction(self.engine) as fresh:
                    snapshot = fresh.get(m.PolicySnapshot, version)
            if snapshot is None:
                raise NotFound(f"policy version {version} is not stored")
            self._policies[version] = Policy.model_validate(json.loads(snapshot.body))
        return self._policies[version]


def person_or_refuse(policy: Policy, person_id: str) -> Person:
    person = policy.person(person_id)
    if person is None:
        raise NotAuthorised(f"unknown person {person_id!r}: only people in the policy can act")
    return person


def load_incident(session: Session, incident_id: str, *, lock: bool = False) -> m.Incident:
    from commandpost.service.ids import parse_incident_id

    key = parse_incident_id(incident_id)
    query = select(m.Incident).where(m.Incident.id == key)
    if lock:
        # Every write ends by appending to the audit chain; taking that lock before any row
        # lock gives all writers one lock order, so PostgreSQL replicas cannot deadlock.
        lock_audit_chain(session)
        query = query.with_for_update()
    incident = session.exec(query).first()
    if incident is None:
        raise NotFound(f"no incident {key}")
    return incident


def audit(
    session: Session,
    ctx: Context,
    incident: m.Incident,
    *,
    actor: str,
    kind: str,
    **data: Any,
) -> AuditRecord:
    return record(
        session,
        at=ctx.now(),
        actor=actor,
        kind=kind,
        data=data,
        incident_id=incident.id,
        policy_version=incident.policy_version,
    )


def enqueue(session: Session, ctx: Context, effect: Effect) -> None:
    """Keep the intent in the same transaction as the change; delivery happens after commit."""
    kind: str
    body: dict[str, Any]
    if isinstance(effect, OpenChannel):
        kind, body = "open_channel", {"name": effect.name, "topic": effect.topic}
    elif isinstance(effect, ChannelPost):
        kind, body = "post", {"channel": effect.channel, "text": effect.text}
        if effect.card:
            body["card"] = effect.card
    elif isinstance(effect, DirectMessage):
        kind, body = "direct", {"person_id": effect.person_id, "text": effect.text}
        if effect.card:
            body["card"] = effect.card
    elif isinstance(effect, ExecuteAction):
        kind = "execute"
        body = {"gate_id": effect.gate_id, "action": effect.action, "params": effect.params}
    elif isinstance(effect, SendNotice):
        kind = "notice"
        body = {
            "notice_id": effect.notice_id,
            "sha256": effect.sha256,
            "kind": effect.kind,
            "recipient": effect.recipient,
            "destination": effect.destination,
        }
    key = effect.incident_id
    hand_over = ctx.hand_over if kind == "open_channel" and key else None
    # A plain row, batched per transaction: outbox rows are append-only here, and the ORM
    # unit of work costs several times more per row on the busiest path (deadline bursts).
    append(
        session,
        OUTBOX,
        {
            "incident_id": effect.incident_id,
            "kind": kind,
            "body": json.dumps(body, sort_keys=True),
            "created_at": ctx.now(),
            "state": "sending" if hand_over else "pending",
            "not_before": ctx.now() + CLAIM_LEASE if hand_over else None,
            "attempts": 0,
        },
    )
    if hand_over is not None and key:
        _hand_over_after_commit(session, hand_over, key)


def _hand_over_after_commit(session: Session, hand_over: Callable[[str], None], key: str) -> None:
    """Call `hand_over(key)` once this transaction commits (never if it rolls back; then
    nothing was written, and the lease would not matter either)."""
    waiting: list[str] | None = session.info.get(_HANDED)
    if waiting is None:
        waiting = session.info[_HANDED] = []

        def committed(done: Session) -> None:
            for incident_id in done.info.pop(_HANDED, []):
                hand_over(incident_id)

        def rolled_back(undone: Session, _previous: object) -> None:
            undone.info.pop(_HANDED, None)

        event.listen(session, "after_commit", committed, once=True)
        event.listen(session, "after_soft_rollback", rolled_back, once=True)
    waiting.append(key)


def post(
    session: Session, ctx: Context, incident: m.Incident, text: str, *, card: str | None = None
) -> None:
    effect = ChannelPost(channel=incident.channel, text=text, incident_id=incident.id, card=card)
    enqueue(session, ctx, effect)


def direct(
    session: Session,
    ctx: Context,
    incident: m.Incident,
    person_id: str,
    text: str,
    *,
    card: str | None = None,
) -> None:
    effect = DirectMessage(person_id=person_id, text=text, incident_id=incident.id, card=card)
    enqueue(session, ctx, effect)
