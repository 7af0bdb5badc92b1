"""Tables of the Teams adapter: approval links used (gates, notices), and the cards posted
per object.

Registered on SQLModel.metadata by the import at the end of `storage.models`.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from commandpost.storage.types import UTCDateTime


class TeamsLinkUse(SQLModel, table=True):
    """A signed approval link that was spent: its nonce can never decide again."""

    __tablename__ = "teams_link_uses"

    nonce: str = Field(primary_key=True, max_length=64)
    gate_id: int = Field(foreign_key="gates.id", index=True)
    person_id: str = Field(max_length=80)
    decision: str = Field(max_length=20)
    used_at: datetime = Field(sa_type=UTCDateTime)


class TeamsCard(SQLModel, table=True):
    """The newest card posted about one object ("gate:12", "summary:INC-2026-0001").

    Teams cannot edit a webhook-posted card, so a change is shown by posting the next
    revision; `digest` is what that revision showed, so an unchanged object is not re-posted.
    """

    __tablename__ = "teams_cards"

    key: str = Field(primary_key=True, max_length=80)
    incident_id: str = Field(max_length=20, index=True)
    revision: int
    digest: str = Field(max_length=64)
    posted_at: datetime = Field(sa_type=UTCDateTime)


class TeamsNoticeLinkUse(SQLModel, table=True):
    """A signed notice-review link that was spent: its nonce can never decide again.

    Apart from `teams_link_uses` because that one's `gate_id` is a foreign key to a gate."""

    __tablename__ = "teams_notice_link_uses"

    nonce: str = Field(primary_key=True, max_length=64)
    notice_id: int = Field(foreign_key="notices.id", index=True)
    person_id: str = Field(max_length=80)
    decision: str = Field(max_length=20)
    used_at: datetime = Field(sa_type=UTCDateTime)
