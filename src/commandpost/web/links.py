"""Viewer links: what `commandpost web link PERSON` prints (and any other place that hands
someone a way into the incident pages)."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from commandpost.core.policy import Policy
from commandpost.errors import InvalidInput, NotAuthorised, NotFound
from commandpost.settings import Settings
from commandpost.web.app import SESSION_PATH
from commandpost.web.auth import ViewerSigner, may_view


def viewer_link(
    *,
    settings: Settings,
    policy: Policy,
    person_id: str,
    now: datetime,
    ttl: timedelta | None = None,
) -> str:
    """A signed link that signs `person_id` in to the pages, valid for `ttl` (default
    `web_link_ttl_seconds`). Refused for someone the policy does not let view."""
    secret = settings.web_secret.get_secret_value() if settings.web_secret else ""
    if not secret:
        raise InvalidInput("set COMMANDPOST_WEB_SECRET (the key that signs viewer links)")
    if policy.person(person_id) is None:
        raise NotFound(f"no person {person_id!r} in the policy")
    if not may_view(policy, person_id, list(settings.web_viewers)):
        allowed = ", ".join(settings.web_viewers)
        raise NotAuthorised(f"{person_id} may not view incidents (web_viewers: {allowed})")
    lifetime = ttl if ttl is not None else timedelta(seconds=settings.web_link_ttl_seconds)
    token = ViewerSigner(secret).issue(person_id=person_id, purpose="link", now=now, ttl=lifetime)
    base = settings.web_public_url.rstrip("/")
    return f"{base}{SESSION_PATH}?{urlencode({'token': token})}"
