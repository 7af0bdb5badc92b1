"""Signed approval links: who may decide which gate, on which payload, until when.

A token is `<claims>.<signature>`, both base64url without padding. The claims name the
incident, the gate, the approver (a policy person id), the gate's payload hash, the expiry
(Unix seconds) and a random nonce; the signature is HMAC-SHA256 over the claims' bytes with
`teams_link_secret`. Reading a token checks the signature first (constant time), then the
form of the claims, then the expiry; anything else (is the nonce spent, is the gate still
pending, does its payload still hash the same) is the approval page's business, because it
needs the database.

Every token also names its kind (`k`: "gate", or "notice" for `notice_links`), and a reader
accepts only its own kind, so a gate link can never decide a notice or the reverse. A gate
token without `k` (issued before kinds existed, so at most one TTL old) reads as a gate.

A link is a bearer credential: whoever holds it can act as its approver until it expires
or is used (docs/teams/README.md says how to narrow that).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from commandpost.errors import InvalidInput, NotAuthorised

DEFAULT_TTL = timedelta(minutes=15)
MIN_SECRET_BYTES = 16  # a short secret makes every link guessable offline
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_HASH = re.compile(r"[0-9a-f]{64}")
_MAX_TOKEN = 1024
GATE = "gate"
NOTICE = "notice"
_NOT_OURS = "This approval link is not one Command Post issued."


class LinkRefused(NotAuthorised):
    """A token that must not be acted on; `why` is a short machine word for the page."""

    def __init__(self, why: str, message: str) -> None:
        self.why = why
        super().__init__(message)


class Nonced(Protocol):
    @property
    def nonce(self) -> str: ...


@dataclass(frozen=True)
class LinkClaims:
    incident_id: str
    gate_id: int
    person_id: str
    payload_hash: str
    expires_at: datetime
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Issues and reads approval tokens with one secret."""

    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if len(key) < MIN_SECRET_BYTES:
            raise InvalidInput(f"teams_link_secret must be at least {MIN_SECRET_BYTES} bytes long")
        self._key = key

    def _sign(self, data: bytes) -> bytes:
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def seal(
        self,
        claims: dict[str, Any],
        *,
        kind: str,
        now: datetime,
        ttl: timedelta = DEFAULT_TTL,
        nonce: str | None = None,
    ) -> str:
        """A token of `kind` carrying `claims` plus the kind, the expiry and a nonce."""
        sealed = {
            **claims,
            "k": kind,
            "e": int((now + ttl).timestamp()),
            "n": nonce or secrets.token_urlsafe(18),
        }
        data = json.dumps(sealed, sort_keys=True, separators=(",", ":")).encode()
        return f"{_b64(data)}.{_b64(self._sign(data))}"

    def unseal(self, token: str, *, kind: str, now: datetime) -> tuple[dict[str, Any], datetime]:
        """The claims of a genuine, unexpired token of `kind`, and its expiry; LinkRefused
        for anything else. The caller checks the kind's own claims."""
        if not token or len(token) > _MAX_TOKEN or token.count(".") != 1:
            raise LinkRefused("malformed", _NOT_OURS)
        body, _, signature = token.partition(".")
        try:
            data, given = _unb64(body), _unb64(signature)
        except (binascii.Error, ValueError):
            raise LinkRefused("malformed", _NOT_OURS) from None
        if not hmac.compare_digest(self._sign(data), given):
            raise LinkRefused(
                "forged",
                "This approval link's signature does not match: it was altered or not issued"
                " by Command Post.",
            )
        try:
            raw = json.loads(data)
            expires_at = datetime.fromtimestamp(int(raw["e"]), UTC)
            nonce = str(raw["n"])
            got = str(raw.get("k", GATE))
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError, OSError):
            raise LinkRefused("malformed", _NOT_OURS) from None
        if not _NONCE.fullmatch(nonce):
            raise LinkRefused("malformed", _NOT_OURS)
        if got != kind:
            raise LinkRefused(
                "wrong_kind",
                f"This link is for a {got}, not a {kind}: open it from the card it came with.",
            )
        if now >= expires_at:
            raise LinkRefused(
                "expired",
                f"This approval link expired at {expires_at:%Y-%m-%d %H:%M} UTC. Use the"
                f" links on the newest card of the {kind}, or decide in chat.",
            )
        return raw, expires_at

    def issue(
        self,
        *,
        incident_id: str,
        gate_id: int,
        person_id: str,
        payload_hash: str,
        now: datetime,
        ttl: timedelta = DEFAULT_TTL,
        nonce: str | None = None,
    ) -> str:
        claims = {"i": incident_id, "g": gate_id, "p": person_id, "h": payload_hash}
        return self.seal(claims, kind=GATE, now=now, ttl=ttl, nonce=nonce)

    def read(self, token: str, *, now: datetime) -> LinkClaims:
        """The claims of a genuine, unexpired gate token; LinkRefused for anything else."""
        raw, expires_at = self.unseal(token, kind=GATE, now=now)
        return _claims(raw, expires_at)

    def csrf(self, claims: Nonced, cookie: str) -> str:
        """The form's CSRF value: bound to this link and to the browser's cookie."""
        data = f"csrf|{claims.nonce}|{cookie}".encode()
        return _b64(self._sign(data))


def _claims(raw: dict[str, Any], expires_at: datetime) -> LinkClaims:
    try:
        claims = LinkClaims(
            incident_id=str(raw["i"]),
            gate_id=int(raw["g"]),
            person_id=str(raw["p"]),
            payload_hash=str(raw["h"]),
            expires_at=expires_at,
            nonce=str(raw["n"]),
        )
    except (ValueError, KeyError, TypeError, OverflowError):
        raise LinkRefused("malformed", _NOT_OURS) from None
    if not _HASH.fullmatch(claims.payload_hash):
        raise LinkRefused("malformed", _NOT_OURS)
    return claims


def is_sha256(value: str) -> bool:
    return _HASH.fullmatch(value) is not None


def approval_url(base_url: str, token: str, decision: str) -> str:
    """The page's address for one button; `d` only preselects the choice on the page."""
    return f"{base_url.rstrip('/')}/teams/approve?{urlencode({'token': token, 'd': decision})}"
