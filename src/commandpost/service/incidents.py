"""Incidents: declaring one, and reading them back.

Declaring stores the policy snapshot, opens the channel, pages the roles for the severity
and arms the SLA timers, all in one transaction (`declare`, for a person; `declare_in`, in a
transaction the caller holds, for alert ingestion). Declarations made at the same moment
share a transaction (storage.group_commit, see `declare`). The changes made to an incident
after that (status, severity, updates, notes, evidence, resolve, close) live in
`incident_changes`; they are re-exported here so that this module stays the one place
callers import from.
"""

from __future__ import annotations

import contextvars
import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from commandpost.core.effects import ChannelPost, OpenChannel
from commandpost.core.lifecycle import is_open
from commandpost.core.vocabulary import IncidentClass, Role, Severity, Status
from commandpost.errors import InvalidInput
from commandpost.service.context import (
    Context,
    audit,
    enqueue,
    load_incident,
    person_or_refuse,
    post,
)
from commandpost.service.ids import channel_name, format_incident_id, next_number
from commandpost.service.incident_changes import (
    add_note,
    apply_severity,
    apply_status,
    change_severity,
    change_status,
    close,
    post_update,
    require_role,
    resolve,
    schedule_sla_timers,
)
from commandpost.service.roles import holder, page_for_severity, page_role, write_new_pages
from commandpost.storage import models as m
from commandpost.storage.engine import transaction
from commandpost.storage.group_commit import PerEngine

__all__ = [
    "Declaration",
    "add_note",
    "apply_severity",
    "apply_status",
    "change_severity",
    "change_status",
    "close",
    "declare",
    "declare_in",
    "enqueue_channel_open",
    "get_incident",
    "ic_of",
    "list_incidents",
    "post_update",
    "require_role",
    "resolve",
    "store_policy",
]


@dataclass(frozen=True)
class Declaration:
    title: str
    klass: IncidentClass
    severity: Severity
    declared_by: str
    model: str | None = None
    model_version: str | None = None
    surface: str | None = None
    tenant: str | None = None
    region: str | None = None
    description: str | None = None
    trigger: str = "command"


# Policy versions known to be committed, per database engine. Snapshots are never deleted,
# so once one is seen committed it stays stored, and later declarations skip the look-up (a
# query inside the writer's lock). A snapshot this session wrote in its current transaction
# does not count until a later transaction reads it back: a rollback could still undo it.
_STORED: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()
_WRITTEN = "commandpost.policy_written"


def store_policy(session: Session, ctx: Context) -> None:
    version = ctx.policy.version()
    stored = _STORED.setdefault(session.get_bind().engine, set())
    if version in stored:
        return
    found = session.get(m.PolicySnapshot, version) is not None
    current = session.get_transaction()
    written: tuple[object, set[str]] | None = session.info.get(_WRITTEN)
    if written is None or written[0] is not current:
        written = (current, set())
        session.info[_WRITTEN] = written
    if found:
        if version not in written[1]:
            stored.add(version)
        return
    body = json.dumps(ctx.policy.model_dump(mode="json"), sort_keys=True)
    session.add(
        m.PolicySnapshot(version=version, name=ctx.policy.name, body=body, loaded_at=ctx.now())
    )
    session.flush()
    written[1].add(version)


def declare(ctx: Context, spec: Declaration, *, attempts: int = 5) -> m.Incident:
    if not spec.title.strip():
        raise InvalidInput("an incident needs a title")
    person_or_refuse(ctx.policy, spec.declared_by)
    # The caller's context goes along: its origin (service.origin) is what the audit trail
    # records, whichever thread leads the transaction.
    queued = _Queued(ctx, spec, contextvars.copy_context())
    for attempt in range(attempts):
        try:
            return DECLARING.commits(ctx.engine).ingest(queued)
        except IntegrityError:
            # Another replica took the same number; the whole declaration was rolled back.
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class _Queued:
    ctx: Context
    spec: Declaration
    caller: contextvars.Context


def _declare_many(batch: Sequence[_Queued]) -> list[m.Incident]:
    with transaction(batch[0].ctx.engine) as session:
        return [q.caller.run(declare_in, session, q.ctx, q.spec) for q in batch]


# Declarations made at the same moment, one transaction for them all. In a burst each had
# waited for the database's writer alone, and the writer stood idle between them
# (bench/slack_ack.py, stop 22: declarations recorded p50 1.46-1.72 s before, 0.98-1.70 s
# after, seven runs and four; see also storage/small_writes.py).
DECLARING: PerEngine[_Queued, m.Incident] = PerEngine(_declare_many)


def declare_in(
    session: Session,
    ctx: Context,
    spec: Declaration,
    *,
    extra_page: Sequence[Role] = (),
    why: str = "paged on declaration",
) -> m.Incident:
    """Declare inside the caller's transaction: policy snapshot, number, channel, pages for
    the severity (and `extra_page`, with `why`), SLA timers.

    `declared_by` is not checked here: `declare` checks it is a person; alert ingestion
    declares as its monitor ("alert:<source>") and needs its bookkeeping and the incidents it
    opens to commit together, hence the caller's session.
    """
    store_policy(session, ctx)
    now = ctx.now()
    number = next_number(session, now.year)
    incident_id = format_incident_id(now.year, number)
    incident = m.Incident(
        id=incident_id,
        year=now.year,
        number=number,
        title=spec.title.strip(),
        klass=spec.klass.value,
        severity=spec.severity.value,
        status=Status.DECLARED.value,
        model=spec.model,
        model_version=spec.model_version,
        surface=spec.surface,
        tenant=spec.tenant,
        region=spec.region,
        description=spec.description,
        trigger=spec.trigger,
        channel=channel_name(incident_id, spec.title),
        policy_version=ctx.policy.version(),
        declared_by=spec.declared_by,
        declared_at=now,
        last_update_at=now,
    )
    session.add(incident)
    session.flush()
    audit(
        session,
        ctx,
        incident,
        actor=spec.declared_by,
        kind="incident.declared",
        title=incident.title,
        klass=incident.klass,
        severity=incident.severity,
        surface=incident.surface,
        model=incident.model,
        model_version=incident.model_version,
        trigger=incident.trigger,
    )
    enqueue_channel_open(session, ctx, incident)
    # The incident row was inserted just above, so there is nothing of it to look up yet.
    page_for_severity(session, ctx, incident, actor="commandpost", new_incident=True)
    schedule_sla_timers(session, ctx, incident, new_incident=True)
    write_new_pages(session)
    for role in extra_page:
        # A role the severity already paged is not paged twice.
        if holder(session, incident.id, role) is None:
            chain = ctx.policy.rotations[role].chain()
            page_role(session, ctx, incident, role=role, chain=chain, actor="commandpost", why=why)
    return incident


def enqueue_channel_open(session: Session, ctx: Context, incident: m.Incident) -> None:
    policy = ctx.policy_for(incident)
    summary = (
        f"{incident.id} {incident.severity} {incident.klass}: {incident.title}"
        + (
            f" | model {incident.model} {incident.model_version or ''}".rstrip()
            if incident.model
            else ""
        )
        + (f" | surface {incident.surface}" if incident.surface else "")
    )
    enqueue(
        session, ctx, OpenChannel(name=incident.channel, topic=summary, incident_id=incident.id)
    )
    post(session, ctx, incident, f"Declared by {incident.declared_by}: {summary}")
    enqueue(
        session,
        ctx,
        ChannelPost(
            channel=policy.announcements_channel,
            text=f"New incident {summary} in #{incident.channel}",
            incident_id=incident.id,
        ),
    )


def list_incidents(ctx: Context, *, open_only: bool = True) -> list[m.Incident]:
    with transaction(ctx.engine) as session:
        query = select(m.Incident).order_by(col(m.Incident.declared_at))
        rows = list(session.exec(query))
    return [r for r in rows if not open_only or is_open(Status(r.status))]


def get_incident(ctx: Context, incident_id: str) -> m.Incident:
    with transaction(ctx.engine) as session:
        return load_incident(session, incident_id)


def ic_of(session: Session, incident: m.Incident) -> str | None:
    row = holder(session, incident.id, Role.INCIDENT_COMMANDER)
    return row.person_id if row else None
