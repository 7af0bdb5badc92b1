"""Effects the core and service ask the outside world to perform, through ports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OpenChannel:
    """Create the incident's channel with its topic (idempotent at the adapter)."""

    name: str
    topic: str
    incident_id: str


@dataclass(frozen=True)
class ChannelPost:
    """A message to the incident's channel, or another named channel."""

    channel: str
    text: str
    incident_id: str | None = None
    card: str | None = None  # e.g. "gate:12": a rich adapter renders that object instead of text


@dataclass(frozen=True)
class DirectMessage:
    person_id: str
    text: str
    incident_id: str | None = None
    card: str | None = None  # e.g. "role_page:safety_lead": a page with an Acknowledge button


@dataclass(frozen=True)
class ExecuteAction:
    """Run an approved containment action; delivered once, through the executor port."""

    gate_id: int
    incident_id: str
    action: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendNotice:
    """Send one approved notice to one recipient; refused at sending unless the notice's text
    still hashes to `sha256`, the hash its approvals were bound to."""

    notice_id: int
    incident_id: str
    sha256: str
    kind: str  # chat, email or webhook
    recipient: str
    destination: dict[str, Any] = field(default_factory=dict)  # the policy's entry, as JSON


Effect = OpenChannel | ChannelPost | DirectMessage | ExecuteAction | SendNotice
