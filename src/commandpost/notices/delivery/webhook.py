"""Notices to a signed HTTP webhook (a status page, a ticketing system).

Signed exactly as the webhook executor signs (its `sign`, over "v1:<timestamp>:<body>"), so
one receiver check serves both. The JSON body carries the approved text unchanged and its
SHA-256; the idempotency key names the notice and the hash, so a retried delivery (the
outbox delivers at least once) is recognisable.
"""

from __future__ import annotations

import json
from datetime import datetime

import httpx

from commandpost.core.policy import WebhookNoticeDestination
from commandpost.errors import DeliveryFailed, InvalidInput
from commandpost.executors.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    resolve_secret,
    sign,
)
from commandpost.service.ports import NoticeMessage


def notice_body(message: NoticeMessage) -> bytes:
    return json.dumps(
        {
            "notice_id": message.notice_id,
            "incident_id": message.incident_id,
            "template": message.template,
            "subject": message.subject,
            "sha256": message.sha256,
            "text": message.text,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def post_notice(
    message: NoticeMessage,
    *,
    destination: WebhookNoticeDestination,
    now: datetime,
    transport: httpx.BaseTransport | None = None,
) -> str:
    body = notice_body(message)
    timestamp = int(now.timestamp())
    try:
        secret = resolve_secret(destination.secret_ref)
    except InvalidInput:
        name = destination.secret_ref.removeprefix("env:")
        raise DeliveryFailed(
            f"notice webhook secret {name} is not set in the environment"
        ) from None
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        IDEMPOTENCY_HEADER: f"notice-{message.notice_id}-{message.sha256[:16]}",
    }
    with httpx.Client(timeout=destination.timeout_seconds, transport=transport) as client:
        try:
            response = client.post(destination.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"notice webhook unreachable: {type(exc).__name__}") from None
    if response.status_code == 429:
        raise DeliveryFailed("notice webhook answered HTTP 429", retry_after=_retry_after(response))
    if response.status_code >= 300:
        raise DeliveryFailed(f"notice webhook answered HTTP {response.status_code}")
    return f"HTTP {response.status_code}"


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("Retry-After", "30")))
    except ValueError:
        return 30.0
