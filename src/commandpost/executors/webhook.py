"""Signed HTTP calls to the operator's own control plane.

The body is signed with HMAC-SHA256 over "v1:<timestamp>:<body>", like Slack signs its
requests, so the receiver can check both origin and freshness. The gate id is sent as an
idempotency key: the outbox delivers at least once, and the key lets the receiver act once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import datetime
from typing import Any

import httpx

from commandpost.core.policy import WebhookExecutor
from commandpost.errors import DeliveryFailed, InvalidInput
from commandpost.service.ports import ExecutionResult

SIGNATURE_HEADER = "X-CommandPost-Signature"
TIMESTAMP_HEADER = "X-CommandPost-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    base = b"v1:" + str(timestamp).encode() + b":" + body
    return "v1=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str, *, timestamp: int, body: bytes, signature: str, now: int, tolerance: int = 300
) -> bool:
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def resolve_secret(ref: str) -> str:
    name = ref.removeprefix("env:")
    value = os.environ.get(name)
    if not value:
        raise InvalidInput(f"executor secret {name} is not set in the environment")
    return value


def call_webhook(
    executor: WebhookExecutor,
    *,
    payload: dict[str, Any],
    idempotency_key: str,
    now: datetime,
    transport: httpx.BaseTransport | None = None,
) -> ExecutionResult:
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(resolve_secret(executor.secret_ref), timestamp, body),
        IDEMPOTENCY_HEADER: idempotency_key,
    }
    with httpx.Client(timeout=executor.timeout_seconds, transport=transport) as client:
        try:
            response = client.post(executor.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"control plane unreachable: {type(exc).__name__}") from None
    if response.status_code >= 300:
        raise DeliveryFailed(f"control plane answered HTTP {response.status_code}")
    return ExecutionResult("done", f"HTTP {response.status_code}")
