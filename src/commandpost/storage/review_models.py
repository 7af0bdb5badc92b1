"""The post-incident review: one Markdown document per incident, opened at resolve.

Registered on SQLModel.metadata by the import at the end of `storage.models`. Edits keep
only the current text here; each edit's unified diff is in the audit chain.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from commandpost.storage.types import UTCDateTime


class Review(SQLModel, table=True):
    """state: draft -> done (by the incident commander); `close` needs done."""

    __tablename__ = "reviews"

    incident_id: str = Field(primary_key=True, foreign_key="incidents.id", max_length=20)
    text: str
    sha256: str = Field(max_length=64)
    version: int = 1  # 1 as opened, +1 per edit
    state: str = Field(default="draft", max_length=20, index=True)
    opened_at: datetime = Field(sa_type=UTCDateTime)
    updated_by: str = Field(max_length=80)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    done_by: str | None = Field(default=None, max_length=80)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
