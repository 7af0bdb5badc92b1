"""Requests signed the way Slack signs them, sent to the served app over real HTTP.

Slack signs `v0:{timestamp}:{body}` with HMAC-SHA256 under the app's signing secret and
sends `X-Slack-Request-Timestamp` and `X-Slack-Signature: v0=<hex>`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

SECRET = "test-signing-secret"
_triggers = itertools.count(1)


def signature(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Reply:
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text) if self.text else {}


@dataclass
class SlackClient:
    """Plays Slack's side of the Events/Interactivity/Commands HTTP traffic."""

    url: str  # http://127.0.0.1:PORT
    secret: str = SECRET
    team_id: str = "T0FAKE"

    def send(
        self,
        body: str,
        *,
        content_type: str = "application/x-www-form-urlencoded",
        secret: str | None = None,
        age: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        ts = str(int(time.time() - age))
        sent = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature(secret or self.secret, ts, body),
            **(headers or {}),
        }
        return self.post(body, sent)

    def post(self, body: str, headers: dict[str, str]) -> Reply:
        """The transport alone: subclasses may keep connections open (bench/slack_ack.py)."""
        response = httpx.post(f"{self.url}/slack/events", content=body, headers=headers, timeout=10)
        return Reply(response.status_code, response.text)

    def command(self, text: str, *, user: str, channel: str = "C0GENERAL", **kw: Any) -> Reply:
        body = urlencode(
            {
                "token": "legacy",
                "team_id": self.team_id,
                "channel_id": channel,
                "user_id": user,
                "command": "/incident",
                "text": text,
                "response_url": "https://hooks.slack.test/commands/1",
                "trigger_id": f"trigger-{next(_triggers)}",
            }
        )
        return self.send(body, **kw)

    def _interactive(self, payload: dict[str, Any], **kw: Any) -> Reply:
        return self.send(urlencode({"payload": json.dumps(payload)}), **kw)

    def click(
        self, action_id: str, value: str, *, user: str, channel: str, ts: str, **kw: Any
    ) -> Reply:
        payload = {
            "type": "block_actions",
            "team": {"id": self.team_id},
            "user": {"id": user},
            "api_app_id": "A0FAKE",
            "trigger_id": f"trigger-{next(_triggers)}",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel},
            "channel": {"id": channel},
            "message": {"ts": ts, "type": "message"},
            "actions": [
                {"type": "button", "action_id": action_id, "block_id": "b", "value": value}
            ],
        }
        return self._interactive(payload, **kw)

    def submit(
        self,
        callback_id: str,
        values: dict[str, Any],
        *,
        user: str,
        private_metadata: str = "",
        **kw: Any,
    ) -> Reply:
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id},
            "user": {"id": user},
            "api_app_id": "A0FAKE",
            "view": {
                "id": "V0FAKE",
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": private_metadata,
                "state": {"values": values},
            },
        }
        return self._interactive(payload, **kw)

    def event(self, event: dict[str, Any], *, event_id: str, retry: int = 0) -> Reply:
        body = json.dumps(
            {
                "type": "event_callback",
                "team_id": self.team_id,
                "api_app_id": "A0FAKE",
                "event_id": event_id,
                "event_time": int(time.time()),
                "event": event,
            }
        )
        extra = (
            {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "timeout"} if retry else {}
        )
        return self.send(body, content_type="application/json", headers=extra)
