"""Who is looking at the incident pages: signed viewer links, session cookies, and an
optional trusted header from a single-sign-on proxy.

A token is `<claims>.<signature>`, both base64url without padding. The claims say what the
token is for (`link`: the URL `commandpost web link` prints; `session`: the cookie the link
is exchanged for), the person (a policy person id), the expiry (Unix seconds) and a random
nonce; the signature is HMAC-SHA256 with `web_secret` over the claims' bytes. A link cannot
be used as a cookie nor a cookie as a link, because the purpose is inside what is signed.

Reading checks the signature first (constant time), then the form, the purpose and the
expiry. Whether the person may still look (still in the policy, still a viewer) is checked
on every request by `may_view`, so removing someone from the policy ends their sessions.
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
from http.cookies import CookieError, SimpleCookie
from typing import Any, Literal

from commandpost.core.policy import Policy
from commandpost.errors import InvalidInput, NotAuthorised

MIN_SECRET_BYTES = 16  # a short secret makes every link guessable offline
COOKIE = "cp_web_session"
_MAX_TOKEN = 1024
_PERSON = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
Purpose = Literal["link", "session"]


class AccessRefused(NotAuthorised):
    """No usable credential; `why` is a short machine word for logs and the 401 page."""

    def __init__(self, why: str, message: str) -> None:
        self.why = why
        super().__init__(message)


@dataclass(frozen=True)
class Viewer:
    person_id: str
    expires_at: datetime | None  # None: vouched for by the proxy on every request


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ViewerSigner:
    """Issues and reads viewer links and session tokens with one secret."""

    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if len(key) < MIN_SECRET_BYTES:
            raise InvalidInput(f"web_secret must be at least {MIN_SECRET_BYTES} bytes long")
        self._key = key

    def _sign(self, data: bytes) -> bytes:
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def issue(self, *, person_id: str, purpose: Purpose, now: datetime, ttl: timedelta) -> str:
        if ttl <= timedelta(0):
            raise InvalidInput("a viewer link must live for a positive time")
        claims = {
            "for": purpose,
            "p": person_id,
            "exp": int((now + ttl).timestamp()),
            "n": secrets.token_urlsafe(12),
        }
        data = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(data)}.{_b64(self._sign(data))}"

    def read(self, token: str, *, purpose: Purpose, now: datetime) -> Viewer:
        if not token or len(token) > _MAX_TOKEN or token.count(".") != 1:
            raise AccessRefused("malformed", "This link is not a Command Post viewer link.")
        body, signature = token.split(".")
        try:
            data, given = _unb64(body), _unb64(signature)
        except (binascii.Error, ValueError):
            raise AccessRefused("malformed", "This link is damaged.") from None
        if not hmac.compare_digest(given, self._sign(data)):
            raise AccessRefused("forged", "This link was not issued by this Command Post.")
        claims = _claims(data)
        if claims.get("for") != purpose:
            raise AccessRefused("wrong_purpose", "This token cannot be used here.")
        expires_at = datetime.fromtimestamp(claims["exp"], tz=UTC)
        if now >= expires_at:
            raise AccessRefused("expired", "This link has expired; ask for a new one.")
        return Viewer(person_id=claims["p"], expires_at=expires_at)


def _claims(data: bytes) -> dict[str, Any]:
    # Signed by us, so malformed claims mean a bug or a leaked key; refuse all the same.
    try:
        claims = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AccessRefused("malformed", "This link is damaged.") from None
    if (
        not isinstance(claims, dict)
        or not isinstance(claims.get("p"), str)
        or not _PERSON.match(claims["p"])
        or not isinstance(claims.get("exp"), int)
    ):
        raise AccessRefused("malformed", "This link is damaged.")
    return claims


def may_view(policy: Policy, person_id: str, viewers: list[str]) -> bool:
    """A person of the policy; when `viewers` names anything, one of them, a member of a
    named group, or in the rotation of a named role (as evidence readers are named)."""
    if policy.person(person_id) is None:
        return False
    if not viewers:
        return True
    named = set(viewers)
    if person_id in named:
        return True
    if any(person_id in policy.groups.get(name, []) for name in named):
        return True
    return any(
        person_id in rotation.chain()
        for role, rotation in policy.rotations.items()
        if role.value in named
    )


def person_from_header(policy: Policy, value: str) -> str | None:
    """The proxy's user: a person id or an email address of the policy."""
    given = value.strip().lower()
    for person in policy.people:
        if given in (person.id, person.email.lower()):
            return person.id
    return None


def session_cookie(token: str, *, max_age: int, secure: bool) -> str:
    # Path=/incidents: the cookie never rides along to Slack, Teams or alert endpoints.
    flags = f"Path=/incidents; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    return f"{COOKIE}={token}; {flags}" + ("; Secure" if secure else "")


def cookie_token(environ: dict[str, Any]) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(str(environ.get("HTTP_COOKIE", "")))
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None and morsel.value else None
