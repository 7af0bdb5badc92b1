"""Tables. One row type per concept; JSON is kept as canonical text for portable hashing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from commandpost.storage.types import UTCDateTime


class PolicySnapshot(SQLModel, table=True):
    __tablename__ = "policy_snapshots"

    version: str = Field(primary_key=True, max_length=40)
    name: str
    body: str
    loaded_at: datetime = Field(sa_type=UTCDateTime)


class Incident(SQLModel, table=True):
    __tablename__ = "incidents"
    __table_args__ = (UniqueConstraint("year", "number", name="uq_incident_year_number"),)

    id: str = Field(primary_key=True, max_length=20)
    year: int
    number: int
    title: str
    klass: str = Field(max_length=40)
    severity: str = Field(max_length=8)
    status: str = Field(max_length=20, index=True)
    model: str | None = None
    model_version: str | None = None
    surface: str | None = None
    tenant: str | None = None
    region: str | None = None
    description: str | None = None
    trigger: str = Field(default="command", max_length=200)
    channel: str = Field(max_length=100)
    policy_version: str = Field(max_length=40)
    declared_by: str
    declared_at: datetime = Field(sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    contained_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    customer_notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_update_at: datetime = Field(sa_type=UTCDateTime)
    resolution: str | None = None


class RoleAssignment(SQLModel, table=True):
    """Who holds (or is being paged for) a role in an incident. One active row per role."""

    __tablename__ = "role_assignments"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: str = Field(foreign_key="incidents.id", index=True, max_length=20)
    role: str = Field(max_length=40)
    person_id: str = Field(max_length=80)
    chain: str = Field(description="comma-separated escalation chain, primary first")
    chain_step: int = 0
    paged_at: datetime = Field(sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    unfilled: bool = False
    active: bool = True
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Gate(SQLModel, table=True):
    __tablename__ = "gates"
    # Migration 0010: by state alone, an incident's open gates were found among all.
    __table_args__ = (Index("ix_gates_incident_state", "incident_id", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: str = Field(foreign_key="incidents.id", index=True, max_length=20)
    kind: str = Field(max_length=30)
    subject: str = Field(max_length=80)
    payload: str
    payload_hash: str = Field(max_length=64)
    rule: str = Field(max_length=80)
    requester: str = Field(max_length=80)
    reason: str | None = None
    state: str = Field(max_length=20, index=True)
    tier: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    tier_started_at: datetime = Field(sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    execution: str | None = Field(default=None, max_length=20)
    execution_detail: str | None = None
    executed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class GateDecision(SQLModel, table=True):
    __tablename__ = "gate_decisions"

    id: int | None = Field(default=None, primary_key=True)
    gate_id: int = Field(foreign_key="gates.id", index=True)
    person_id: str = Field(max_length=80)
    role: str = Field(max_length=40)
    decision: str = Field(max_length=20)
    tier: int
    reason: str | None = None
    payload_hash: str = Field(max_length=64)
    policy_version: str = Field(max_length=40)
    at: datetime = Field(sa_type=UTCDateTime)


class Deadline(SQLModel, table=True):
    __tablename__ = "deadlines"
    # Migration 0010: by state alone, an incident's deadlines were found among all pending.
    __table_args__ = (Index("ix_deadlines_incident_state", "incident_id", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: str = Field(foreign_key="incidents.id", index=True, max_length=20)
    kind: str = Field(max_length=30)
    subject: str = Field(max_length=80)
    step: int = 0
    due_at: datetime = Field(sa_type=UTCDateTime, index=True)
    state: str = Field(default="pending", max_length=20, index=True)
    fired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lateness_seconds: float | None = None


class OutboxItem(SQLModel, table=True):
    """An effect written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    # Migration 0010: by state alone, a read of channel openings read every item.
    __table_args__ = (Index("ix_outbox_kind_state", "kind", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: str | None = Field(default=None, max_length=20, index=True)
    kind: str = Field(max_length=30)
    body: str
    state: str = Field(default="pending", max_length=20, index=True)
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Not tried again before this time (a rate-limited call's Retry-After).
    not_before: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"

    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    incident_id: str | None = Field(default=None, index=True, max_length=20)
    actor: str = Field(max_length=80)
    kind: str = Field(max_length=40)
    data: str
    policy_version: str | None = Field(default=None, max_length=40)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The last sealed event: catches a chain whose tail was cut off."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int
    hash: str = Field(max_length=64)


class SlackChannel(SQLModel, table=True):
    """The Slack channel opened for an incident: its name and id, and the pinned summary."""

    __tablename__ = "slack_channels"

    incident_id: str = Field(primary_key=True, max_length=20)
    name: str = Field(max_length=80, index=True)
    channel_id: str = Field(max_length=40, index=True)
    summary_ts: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(sa_type=UTCDateTime)


class SlackGateCard(SQLModel, table=True):
    """A gate card posted in an incident channel, and a digest of what it last showed: the
    card is updated in place (chat.update) whenever what it would show differs."""

    __tablename__ = "slack_gate_cards"

    gate_id: int = Field(primary_key=True, foreign_key="gates.id")
    incident_id: str = Field(max_length=20, index=True)
    channel_id: str = Field(max_length=40)
    ts: str = Field(max_length=40)
    rendered: str = Field(max_length=64)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class SlackEvent(SQLModel, table=True):
    """An Events API delivery already handled: Slack's retries of it are dropped."""

    __tablename__ = "slack_events"

    event_id: str = Field(primary_key=True, max_length=64)
    received_at: datetime = Field(sa_type=UTCDateTime)


from commandpost.storage import alert_models as alert_models  # noqa: E402  (registers its tables)
from commandpost.storage import evidence_models as evidence_models  # noqa: E402  (registers its tables)
from commandpost.storage import notice_models as notice_models  # noqa: E402  (registers its tables)
from commandpost.storage import review_models as review_models  # noqa: E402  (registers its tables)
from commandpost.storage import teams_models as teams_models  # noqa: E402  (registers its tables)
