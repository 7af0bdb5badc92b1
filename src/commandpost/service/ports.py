"""Ports: what the service needs from the outside world, as small protocols."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from commandpost.core.policy import (
    ContainmentAction,
    EmailNoticeDestination,
    Person,
    WebhookNoticeDestination,
)
from commandpost.errors import DeliveryFailed


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to: drills and tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock must start at a timezone-aware time")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("times must be timezone-aware")
        self._now = at.astimezone(UTC)


class ChatPort(Protocol):
    def open_channel(self, *, name: str, topic: str, incident_id: str) -> None: ...

    # `card` names the object a message is about ("gate:12", "role_page:comms"), so a rich
    # adapter can render it with buttons; text-only adapters ignore it.
    def post(
        self, *, channel: str, text: str, incident_id: str | None, card: str | None = None
    ) -> None: ...

    def direct(
        self, *, person: Person, text: str, incident_id: str | None, card: str | None = None
    ) -> None: ...


@runtime_checkable
class SettlingChat(Protocol):
    """A chat port that defers work it can coalesce (refreshing a pinned summary card once
    for several messages, not once per message); the outbox calls `settle` after each batch."""

    def settle(self) -> None: ...


@dataclass(frozen=True)
class ExecutionResult:
    """`done`: the control plane confirmed; `manual`: a human must do it and confirm."""

    status: str
    detail: str = ""


@dataclass(frozen=True)
class ExecutionRequest:
    """One approved action to run: what, with which values, for which gate."""

    name: str
    action: ContainmentAction
    params: dict[str, Any]
    mode: str  # "contain" or "restore"
    gate_id: int
    incident_id: str


class ExecutorPort(Protocol):
    def execute(self, request: ExecutionRequest) -> ExecutionResult: ...


@dataclass(frozen=True)
class NoticeMessage:
    """An approved notice on its way to one recipient: `text` is sent exactly as it is."""

    notice_id: int
    incident_id: str
    template: str
    subject: str | None
    text: str
    sha256: str


class NoticeSenderPort(Protocol):
    """Sends approved notices by email and webhook (chat goes through the chat port).

    Returns what the far end said (for the record); raises DeliveryFailed to be retried.
    """

    def send(
        self,
        message: NoticeMessage,
        *,
        destination: EmailNoticeDestination | WebhookNoticeDestination,
        recipient: str,
    ) -> str: ...


class RefusingNoticeSender:
    """The default until one is wired: says so, and the outbox keeps the notice queued."""

    def send(
        self,
        message: NoticeMessage,
        *,
        destination: EmailNoticeDestination | WebhookNoticeDestination,
        recipient: str,
    ) -> str:
        raise DeliveryFailed(
            f"no notice sender is configured: {destination.type} delivery of notice "
            f"#{message.notice_id} is not possible here (runtime.build_context wires one)"
        )


class EvidenceStore(Protocol):
    """Sealed evidence objects, named by the SHA-256 of their bytes and written once.

    `put` returns the hex digest (storing the same bytes twice is one object); `get` raises
    NotFound when the object is gone; `delete` says whether there was anything to delete.
    A local directory is the default (`commandpost.evidence.LocalEvidenceStore`).
    """

    def put(self, data: bytes) -> str: ...

    def get(self, sha256: str) -> bytes: ...

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> bool: ...

    def iter(self) -> Iterator[str]: ...
