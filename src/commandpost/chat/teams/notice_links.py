"""Signed notice-review links: who may approve or reject which notice, on which text.

A notice token is a `LinkSigner` token of kind "notice" (a gate's reader refuses it, and
this one refuses a gate's). Its claims name the incident (`i`), the notice (`o`), the
reviewer (`p`, a policy person id) and the SHA-256 of the notice's text as the card showed
it (`h`), with the expiry and nonce every token has. Whether the nonce is spent and whether
the text still hashes the same is `notice_flow`'s business: it needs the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from commandpost.chat.teams.approvals import (
    DEFAULT_TTL,
    NOTICE,
    LinkRefused,
    LinkSigner,
    is_sha256,
)

NOTICE_PATH = "/teams/notice"
_NOT_OURS = "This review link is not one Command Post issued."


@dataclass(frozen=True)
class NoticeClaims:
    incident_id: str
    notice_id: int
    person_id: str
    text_hash: str
    expires_at: datetime
    nonce: str


def issue(
    signer: LinkSigner,
    *,
    incident_id: str,
    notice_id: int,
    person_id: str,
    text_hash: str,
    now: datetime,
    ttl: timedelta = DEFAULT_TTL,
    nonce: str | None = None,
) -> str:
    claims = {"i": incident_id, "o": notice_id, "p": person_id, "h": text_hash}
    return signer.seal(claims, kind=NOTICE, now=now, ttl=ttl, nonce=nonce)


def read(signer: LinkSigner, token: str, *, now: datetime) -> NoticeClaims:
    """The claims of a genuine, unexpired notice token; LinkRefused for anything else."""
    raw, expires_at = signer.unseal(token, kind=NOTICE, now=now)
    try:
        claims = NoticeClaims(
            incident_id=str(raw["i"]),
            notice_id=int(raw["o"]),
            person_id=str(raw["p"]),
            text_hash=str(raw["h"]),
            expires_at=expires_at,
            nonce=str(raw["n"]),
        )
    except (ValueError, KeyError, TypeError, OverflowError):
        raise LinkRefused("malformed", _NOT_OURS) from None
    if not is_sha256(claims.text_hash):
        raise LinkRefused("malformed", _NOT_OURS)
    return claims


def review_url(base_url: str, token: str, decision: str) -> str:
    """The review page's address for one button; `d` only preselects the choice."""
    return f"{base_url.rstrip('/')}{NOTICE_PATH}?{urlencode({'token': token, 'd': decision})}"
