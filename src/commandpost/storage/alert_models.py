"""Tables of alert ingestion: deliveries seen, incidents alerts opened, fingerprints attached.

Registered on SQLModel.metadata by the import at the end of `storage.models`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from commandpost.storage.types import UTCDateTime


class AlertDelivery(SQLModel, table=True):
    """One webhook body per source, by content hash: a retry of it is recognised and dropped."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (UniqueConstraint("source", "body_sha256", name="uq_alert_delivery_body"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=20)
    body_sha256: str = Field(max_length=64)
    alerts: int
    first_received_at: datetime = Field(sa_type=UTCDateTime)
    # When it was last handled; a repeat within the redelivery window is a retry.
    received_at: datetime = Field(sa_type=UTCDateTime)
    repeats: int = 0


class AlertIncident(SQLModel, table=True):
    """An incident that alerts opened or joined: how it came about and how many alerts it has."""

    __tablename__ = "alert_incidents"

    incident_id: str = Field(primary_key=True, foreign_key="incidents.id", max_length=20)
    source: str = Field(max_length=20)
    kind: str = Field(max_length=10, index=True)  # "alert" or "storm"
    rule: str = Field(max_length=80)
    group_key: str
    opened_at: datetime = Field(sa_type=UTCDateTime, index=True)
    alerts: int = 0
    fingerprints: int = 0
    firing: int = 0  # fingerprints whose last alert was firing
    last_alert_at: datetime = Field(sa_type=UTCDateTime)


class AlertFingerprint(SQLModel, table=True):
    """A fingerprint attached to an incident. While that incident is open, the fingerprint's
    alerts all go to it; once it is resolved, the fingerprint firing again opens a new one."""

    __tablename__ = "alert_fingerprints"
    __table_args__ = (
        UniqueConstraint("source", "fingerprint", "incident_id", name="uq_alert_fingerprint"),
        Index("ix_alert_fingerprints_source_fingerprint", "source", "fingerprint"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=20)
    fingerprint: str = Field(max_length=128)
    incident_id: str = Field(foreign_key="incidents.id", index=True, max_length=20)
    title: str
    rule: str = Field(max_length=80)
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    count: int = 1
    last_status: str = Field(max_length=10)
