"""Who may post alerts: a bearer token, or an HMAC-SHA256 signature with a timestamp.

    Authorization: Bearer <token>
    X-CommandPost-Timestamp: <unix seconds>
    X-CommandPost-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

Secrets are compared in constant time and never logged; a failure names what was wrong
(missing, stale, mismatched), never what was expected.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from commandpost.core.alerts.config import BearerAuth, HmacAuth

TIMESTAMP_HEADER = "X-CommandPost-Timestamp"
SIGNATURE_HEADER = "X-CommandPost-Signature"
SIGNATURE_PREFIX = "sha256="


def sign(secret: str, *, timestamp: int | str, body: bytes) -> str:
    """The signature header value a sender puts on `body` sent at `timestamp`."""
    base = str(timestamp).encode() + b"." + body
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Bearer:
    token: str

    def check_headers(self, headers: Mapping[str, str]) -> str | None:
        """None when the token matches; otherwise why not."""
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return "missing bearer token"
        if not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            return "wrong bearer token"
        return None

    def check_body(self, headers: Mapping[str, str], body: bytes, now: datetime) -> str | None:
        return None


@dataclass(frozen=True)
class Signature:
    secret: str
    tolerance: timedelta

    def check_headers(self, headers: Mapping[str, str]) -> str | None:
        if not headers.get(TIMESTAMP_HEADER.lower()) or not headers.get(SIGNATURE_HEADER.lower()):
            return f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}"
        return None

    def check_body(self, headers: Mapping[str, str], body: bytes, now: datetime) -> str | None:
        stamp = headers.get(TIMESTAMP_HEADER.lower(), "").strip()
        given = headers.get(SIGNATURE_HEADER.lower(), "").strip()
        if not stamp.isdigit():
            return f"{TIMESTAMP_HEADER} must be whole seconds since the epoch"
        if abs(now.timestamp() - int(stamp)) > self.tolerance.total_seconds():
            return f"{TIMESTAMP_HEADER} is outside the accepted window"
        if not hmac.compare_digest(sign(self.secret, timestamp=stamp, body=body), given):
            return "signature does not match"
        return None


Verifier = Bearer | Signature


def verifier_for(auth: BearerAuth | HmacAuth, secrets: Mapping[str, str]) -> Verifier | None:
    """The source's verifier, or None when its secret is not set (the source then answers 503)."""
    if isinstance(auth, BearerAuth):
        token = secrets.get(auth.token_ref.removeprefix("env:"), "")
        return Bearer(token) if token else None
    secret = secrets.get(auth.secret_ref.removeprefix("env:"), "")
    return Signature(secret, auth.tolerance) if secret else None


def secret_name(auth: BearerAuth | HmacAuth) -> str:
    ref = auth.token_ref if isinstance(auth, BearerAuth) else auth.secret_ref
    return ref.removeprefix("env:")
