"""What the request body of a button click says: who clicked, in which channel, the button's
value, and the message it was on (the card to update in place)."""

from __future__ import annotations

from typing import Any


def clicked(body: dict[str, Any]) -> tuple[str, str | None, str, str | None]:
    """(user, channel, value, message ts) of a block_actions body. A click in a DM or on a
    message Slack reports by its container has no `channel`: the container names it."""
    user = str(body.get("user", {}).get("id", ""))
    channel = (body.get("channel") or body.get("container") or {}).get("id") or body.get(
        "container", {}
    ).get("channel_id")
    value = str((body.get("actions") or [{}])[0].get("value", ""))
    ts = (body.get("message") or {}).get("ts") or body.get("container", {}).get("message_ts")
    return user, channel, value, ts
