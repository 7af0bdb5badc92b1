"""The workspace a FakeSlack keeps, and what each Web API method does to it.

Channels with their members, topics and pins, messages as chat.update left them, ephemeral
messages and opened views: the state Slack's answers imply. Each method handler answers with
the shapes Slack documents, including the errors a caller must handle (`name_taken`,
`already_in_channel`, `not_in_channel`, ...). Not thread-safe: FakeSlack calls it under its
lock.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_CHANNEL_NAME = re.compile(r"[a-z0-9_-]+")  # Slack: lowercase letters, digits, - and _
_TOPIC_MAX = 250
_TEXT_MAX = 40000


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    topic: str = ""
    purpose: str = ""
    members: set[str] = field(default_factory=set)
    pins: list[str] = field(default_factory=list)
    created: int = 0

    def as_json(self, *, creator: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private and not self.is_im,
            "is_group": False,
            "is_im": self.is_im,
            "is_private": self.is_private,
            "is_member": creator in self.members,
            "is_archived": False,
            "created": self.created,
            "creator": creator,
            "topic": {"value": self.topic, "creator": creator, "last_set": self.created},
            "purpose": {"value": self.purpose, "creator": creator, "last_set": self.created},
        }


class _Reply(Exception):
    """Raised by a method handler to answer {"ok": false, "error": ...} (plus extras)."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.body = {"ok": False, "error": error, **extra}


class Workspace:
    def __init__(
        self,
        *,
        team_id: str,
        bot_user_id: str,
        bot_id: str,
        users: Mapping[str, tuple[str, str]],
    ) -> None:
        """`users`: email -> (user id, real name) for users.lookupByEmail."""
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.users: dict[str, tuple[str, str]] = dict(users)
        self.channels: dict[str, Channel] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.ephemeral: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        # Issues a fresh one-time Socket Mode URL (fakeslack_socket sets it); None: no Socket Mode.
        self.socket_url: Callable[[], str] | None = None
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "api.test": lambda params: {"ok": True, "args": params},
            "apps.connections.open": self._connections_open,
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "conversations.create": self._create,
            "conversations.invite": self._invite,
            "conversations.setTopic": self._set_topic,
            "conversations.setPurpose": self._set_purpose,
            "pins.add": self._pin,
            "views.open": self._open_view,
            "users.lookupByEmail": self._lookup_by_email,
        }

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The JSON body Slack would answer `method` with, errors included."""
        handler = self._methods.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        try:
            return handler(params)
        except _Reply as reply:
            return reply.body

    # ---------------------------------------------------------------------------- state
    def add_channel(
        self, name: str, *, channel_id: str | None = None, members: Iterable[str] = ()
    ) -> Channel:
        channel = Channel(
            id=channel_id or self._new_id("C"),
            name=name,
            members={self.bot_user_id, *members},
            created=int(time.time()),
        )
        self.channels[channel.id] = channel
        return channel

    def channel_named(self, name: str) -> Channel | None:
        return next((c for c in self.channels.values() if c.name == name.lstrip("#")), None)

    def messages_in(self, channel_id: str) -> list[dict[str, Any]]:
        found = [(ts, m) for (cid, ts), m in self.messages.items() if cid == channel_id]
        return [dict(m) for _, m in sorted(found, key=lambda pair: float(pair[0]))]

    # -------------------------------------------------------------------- method handlers
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):010d}"

    def _new_ts(self) -> str:
        micros = next(self._ts) * 100  # 1700000000.000100, .000200, ...
        return f"{1_700_000_000 + micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake-workspace.slack.test/",
            "team": "Fake Workspace",
            "user": "commandpost",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.socket_url is None:
            raise _Reply("unknown_method")  # as before this fake spoke Socket Mode
        return {"ok": True, "url": self.socket_url()}

    def _channel(self, params: dict[str, Any], *, key: str = "channel") -> Channel:
        ref = _text(params, key)
        if not ref:
            raise _Reply("channel_not_found")
        if ref in self.channels:
            return self.channels[ref]
        if re.fullmatch(r"[UW][A-Z0-9]+", ref):  # a user id: the app's DM with that user
            dm_id = "D" + ref[1:]
            if dm_id not in self.channels:
                self.channels[dm_id] = Channel(
                    id=dm_id, name=ref, is_im=True, members={self.bot_user_id, ref}
                )
            return self.channels[dm_id]
        named = self.channel_named(ref)
        if named is None:
            raise _Reply("channel_not_found")
        return named

    def _member_channel(self, params: dict[str, Any]) -> Channel:
        channel = self._channel(params)
        if self.bot_user_id not in channel.members:
            raise _Reply("not_in_channel")
        return channel

    def _content(self, params: dict[str, Any]) -> dict[str, Any]:
        text = _text(params, "text")
        blocks = params.get("blocks")
        if isinstance(blocks, str):
            raise _Reply("invalid_blocks_format")
        if blocks is not None and (not isinstance(blocks, list) or len(blocks) > 50):
            raise _Reply("invalid_blocks")
        if not text and not blocks:
            raise _Reply("no_text")
        if len(text) > _TEXT_MAX:
            raise _Reply("msg_too_long")
        content: dict[str, Any] = {"text": text}
        if blocks:
            content["blocks"] = blocks
        return content

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_channel(params)
        ts = self._new_ts()
        message = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "ts": ts,
            **self._content(params),
        }
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        self.messages[(channel.id, ts)] = message
        return {"ok": True, "channel": channel.id, "ts": ts, "message": dict(message)}

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        ts = _text(params, "ts")
        message = self.messages.get((channel.id, ts))
        if message is None:
            raise _Reply("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise _Reply("cant_update_message")
        content = self._content(params)
        message.pop("blocks", None)
        message.update(content, edited={"user": self.bot_user_id, "ts": ts})
        return {
            "ok": True,
            "channel": channel.id,
            "ts": ts,
            "text": message["text"],
            "message": dict(message),
        }

    def _post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        user = _text(params, "user")
        if not user:
            raise _Reply("user_not_found")
        ts = self._new_ts()
        self.ephemeral.append(
            {"channel": channel.id, "user": user, "ts": ts, **self._content(params)}
        )
        return {"ok": True, "message_ts": ts}

    def _create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _text(params, "name")
        if not name:
            raise _Reply("invalid_name_required")
        if len(name) > 80:
            raise _Reply("invalid_name_maxlength")
        if not _CHANNEL_NAME.fullmatch(name):
            raise _Reply("invalid_name_specials")
        if any(c.name == name for c in self.channels.values()):
            raise _Reply("name_taken")
        channel = Channel(
            id=self._new_id("C"),
            name=name,
            is_private=_flag(params, "is_private"),
            members={self.bot_user_id},
            created=int(time.time()),
        )
        self.channels[channel.id] = channel
        return {"ok": True, "channel": channel.as_json(creator=self.bot_user_id)}

    def _invite(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_channel(params)
        users = [u.strip() for u in _text(params, "users").split(",") if u.strip()]
        if not users:
            raise _Reply("no_user")
        if self.bot_user_id in users:
            raise _Reply("cant_invite_self")
        already = [u for u in users if u in channel.members]
        errors = [{"user": u, "ok": False, "error": "already_in_channel"} for u in already]
        if already and not _flag(params, "force"):
            raise _Reply("already_in_channel", errors=errors)
        channel.members.update(users)
        body = {"ok": True, "channel": channel.as_json(creator=self.bot_user_id)}
        return {**body, "errors": errors} if errors else body

    def _set_topic(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_channel(params)
        topic = _text(params, "topic")
        if len(topic) > _TOPIC_MAX:
            raise _Reply("too_long")
        channel.topic = topic
        return {"ok": True, "channel": channel.as_json(creator=self.bot_user_id)}

    def _set_purpose(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_channel(params)
        purpose = _text(params, "purpose")
        if len(purpose) > _TOPIC_MAX:
            raise _Reply("too_long")
        channel.purpose = purpose
        return {"ok": True, "channel": channel.as_json(creator=self.bot_user_id)}

    def _pin(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_channel(params)
        ts = _text(params, "timestamp")
        if (channel.id, ts) not in self.messages:
            raise _Reply("message_not_found")
        if ts in channel.pins:
            raise _Reply("already_pinned")
        channel.pins.append(ts)
        return {"ok": True}

    def _open_view(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = _text(params, "trigger_id")
        if not trigger or trigger.startswith("expired"):
            raise _Reply("invalid_trigger_id")
        view = params.get("view")
        if isinstance(view, str) or not isinstance(view, dict) or "type" not in view:
            raise _Reply("invalid_arguments")
        opened = {
            **view,
            "id": self._new_id("V"),
            "team_id": self.team_id,
            "state": {"values": {}},
            "hash": f"{time.time():.6f}.fake",
            "app_id": "A0FAKE",
            "bot_id": self.bot_id,
        }
        self.views.append(opened)
        return {"ok": True, "view": opened}

    def _lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        email = _text(params, "email").lower()
        if email not in self.users:
            raise _Reply("users_not_found")
        user_id, name = self.users[email]
        profile = {"email": email, "real_name": name, "display_name": name.split()[0]}
        user = {
            "id": user_id,
            "team_id": self.team_id,
            "name": email.split("@")[0],
            "real_name": name,
            "deleted": False,
            "is_bot": False,
            "profile": profile,
        }
        return {"ok": True, "user": user}


def _text(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    return value if isinstance(value, str) else "" if value is None else str(value)


def _flag(params: Mapping[str, Any], key: str) -> bool:
    value = params.get(key)
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))
