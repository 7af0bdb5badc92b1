"""Tables of sealed evidence: what was added, who read the original and why, legal holds.

The bytes live in the evidence store (`commandpost.evidence`), named by `sha256`; a row
stays after retention deletes its object (`deleted_at`), so the record of what existed and
why it went is kept. Registered on SQLModel.metadata by the import at the end of
`storage.models`.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from commandpost.storage.types import UTCDateTime


class Evidence(SQLModel, table=True):
    __tablename__ = "evidence"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: str = Field(foreign_key="incidents.id", index=True, max_length=20)
    sha256: str = Field(max_length=64, index=True)
    size: int
    media_type: str = Field(max_length=100)
    kind: str = Field(max_length=10)  # prompt | output | trace | config | other
    label: str = Field(max_length=200)
    added_by: str = Field(max_length=80)
    added_at: datetime = Field(sa_type=UTCDateTime)
    # What the channel was shown: personal data replaced by markers.
    redacted: str
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deleted_reason: str | None = None


class EvidenceRead(SQLModel, table=True):
    """One reading of a sealed original: the chain of custody."""

    __tablename__ = "evidence_reads"

    id: int | None = Field(default=None, primary_key=True)
    evidence_id: int = Field(foreign_key="evidence.id", index=True)
    reader: str = Field(max_length=80)
    read_at: datetime = Field(sa_type=UTCDateTime)
    reason: str


class LegalHold(SQLModel, table=True):
    """While a hold is unreleased nothing deletes the incident's evidence."""

    __tablename__ = "legal_holds"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: str = Field(foreign_key="incidents.id", index=True, max_length=20)
    placed_by: str = Field(max_length=80)
    placed_at: datetime = Field(sa_type=UTCDateTime)
    reason: str
    released_by: str | None = Field(default=None, max_length=80)
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
