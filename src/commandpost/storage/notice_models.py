"""Tables of the notice workflow: drafts and their current text, approvals, deliveries.

Registered on SQLModel.metadata by the import at the end of `storage.models`. An approval is
bound to the SHA-256 of the exact bytes it approved; an edit voids it (the row stays, marked
void, so the record shows what was approved and then changed).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from commandpost.storage.types import UTCDateTime


class Notice(SQLModel, table=True):
    """One notice of one incident: its current text and where it stands.

    state: draft -> approved (every approval it needs, deliveries queued) -> sent | failed;
    or rejected. An edit of an approved notice with nothing delivered yet returns it to draft.
    """

    __tablename__ = "notices"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: str = Field(foreign_key="incidents.id", index=True, max_length=20)
    template: str = Field(max_length=80)
    channel: str = Field(max_length=20)  # the lint channel: status_page, email, chat, webhook
    subject: str | None = None
    text: str
    sha256: str = Field(max_length=64)
    version: int = 1  # 1 as drafted, +1 per edit
    # The facts it was rendered from and the facts its lint requires (JSON): an edit is
    # linted against the same facts the draft was.
    facts: str
    requires: str
    findings: str  # JSON list of the current text's lint findings
    state: str = Field(default="draft", max_length=20, index=True)
    reason: str | None = None  # why it was rejected
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    approved_sha256: str | None = Field(default=None, max_length=64)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class NoticeApproval(SQLModel, table=True):
    """One person's approval, in one role, of one exact text (by hash)."""

    __tablename__ = "notice_approvals"

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notices.id", index=True)
    person_id: str = Field(max_length=80)
    role: str = Field(max_length=20)  # comms or legal
    sha256: str = Field(max_length=64)
    override_reason: str | None = None  # given to approve despite blocking findings
    at: datetime = Field(sa_type=UTCDateTime)
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class NoticeDelivery(SQLModel, table=True):
    """One recipient of an approved notice, and how sending to it went.

    state: queued -> delivered; retrying (a failed attempt, queued again) -> delivered or
    failed (gave up); cancelled (edited or rejected before it went); refused (the text no
    longer hashes to what was approved, so nothing was sent).
    """

    __tablename__ = "notice_deliveries"
    __table_args__ = (
        UniqueConstraint("notice_id", "sha256", "kind", "recipient", name="uq_notice_delivery"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notices.id", index=True)
    kind: str = Field(max_length=20)  # chat, email or webhook
    recipient: str
    sha256: str = Field(max_length=64)  # what was approved, and so what may be sent
    state: str = Field(default="queued", max_length=20)
    attempts: int = 0
    error: str | None = None
    detail: str | None = None  # what the far end said (SMTP or HTTP status)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_sha256: str | None = Field(default=None, max_length=64)
