"""How a Web API call's failure reaches the outbox.

Every failure becomes `DeliveryFailed`, so the outbox keeps the intent and retries it. A 429
carries `retry_after` from Slack's Retry-After header; a 5xx or an unreachable Slack carries a
short backoff: both defer the item without using up one of its attempts, so an outage of any
length delays messages and drops none. Other errors (a bad request) use attempts and are
parked as failed after the outbox's limit, visible with their error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from slack_sdk.errors import SlackApiError, SlackClientError

from commandpost.errors import DeliveryFailed

OUTAGE_BACKOFF = 2.0  # seconds before retrying after a 5xx or a dropped connection
# Answers that mean a repeated step was already done (a retry finishing a channel set-up).
TOLERATED = frozenset({"already_in_channel", "already_pinned", "cant_invite_self"})


def error_of(exc: SlackApiError) -> str:
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    return str(data.get("error") or f"HTTP {exc.response.status_code}")


def _retry_after(exc: SlackApiError) -> float:
    headers = {str(k).lower(): v for k, v in (exc.response.headers or {}).items()}
    raw = headers.get("retry-after")
    value = raw[0] if isinstance(raw, list) else raw
    try:
        return max(1.0, float(str(value)))
    except (TypeError, ValueError):
        return 1.0


@contextmanager
def slack_call(what: str) -> Iterator[None]:
    """Turn whatever the Web API call raised into DeliveryFailed (with 429's Retry-After)."""
    try:
        yield
    except SlackApiError as exc:
        if exc.response.status_code == 429 or error_of(exc) == "ratelimited":
            after = _retry_after(exc)
            raise DeliveryFailed(f"Slack {what}: ratelimited", retry_after=after) from None
        if exc.response.status_code >= 500:
            raise DeliveryFailed(
                f"Slack {what}: HTTP {exc.response.status_code}", retry_after=OUTAGE_BACKOFF
            ) from None
        raise DeliveryFailed(f"Slack {what}: {error_of(exc)}") from None
    except (SlackClientError, OSError) as exc:
        # Slack unreachable: an outage, not a bad request; wait and retry without limit.
        raise DeliveryFailed(
            f"Slack {what}: {type(exc).__name__}: {exc}", retry_after=OUTAGE_BACKOFF
        ) from None


def checked(what: str, send: Callable[[], object]) -> None:
    """Make one call; its failure as DeliveryFailed."""
    with slack_call(what):
        send()


def tolerant(what: str, send: Callable[[], object]) -> None:
    """Make a call whose 'already done' answers mean success (a retry finishing a set-up)."""
    with slack_call(what):
        try:
            send()
        except SlackApiError as exc:
            if error_of(exc) not in TOLERATED:
                raise
