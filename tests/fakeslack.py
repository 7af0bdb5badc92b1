"""A local fake of Slack's Web API for end-to-end tests.

`FakeSlack` is a real HTTP server on 127.0.0.1 (port 0, so tests never collide) that a real
`slack_sdk.WebClient(base_url=fake.base_url, token=fake.token)` talks to. It answers the
methods Command Post calls with the shapes Slack documents (ids, `ts` values, the errors a
caller must handle: `name_taken`, `already_in_channel`, `not_in_channel`, ...), keeps the
workspace state those answers imply (channels, members, messages, pins), and records every
request thread-safely so a test can assert on exactly what reached "Slack".

It can be scripted: fail the next N calls of a method with an error, answer 429 with
`Retry-After`, answer 500, add latency, or be down (every request answered 503, or the
connection closed with no answer) until told otherwise.

    with FakeSlack() as slack:
        client = WebClient(token=slack.token, base_url=slack.base_url)
        slack.rate_limit_next("chat.postMessage", retry_after=2)
        ...
        slack.wait_for_calls("pins.add", count=1)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ANY = "*"  # a method name in scripts that matches every method
_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")  # JSON strings inside form bodies
_CHANNEL_NAME = re.compile(r"[a-z0-9_-]+")  # Slack: lowercase letters, digits, - and _
_TOPIC_MAX = 250
_TEXT_MAX = 40000


class _Server(ThreadingHTTPServer):
    # The default listen backlog of 5 resets connections when many clients call at once,
    # which real Slack never does; the fake must not be the bottleneck a test measures.
    request_queue_size = 256
    daemon_threads = True


@dataclass(frozen=True)
class Call:
    """One request as the fake received it, and what it answered (status 0: no answer)."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]  # lower-cased names
    at: float  # time.time() on arrival
    elapsed: float  # seconds from arrival to answer (includes scripted latency)
    status: int
    response: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response and self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return None if self.response is None else self.response.get("error")

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        token = self.params.get("token")
        return token if isinstance(token, str) else None


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


@dataclass
class _Script:
    method: str
    times: int
    status: int = 200
    error: str = ""
    retry_after: int | None = None


class _Reply(Exception):
    """Raised by a method handler to answer {"ok": false, "error": ...} (plus extras)."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.body = {"ok": False, "error": error, **extra}


class FakeSlack:
    def __init__(
        self,
        *,
        token: str | None = "xoxb-fake-token",
        team_id: str = "T0FAKE",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        users: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        """`token`: the only bearer token accepted (None accepts any); `users`: email ->
        (user id, real name) for users.lookupByEmail."""
        self.token = token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._scripts: list[_Script] = []
        self._latency: dict[str, float] = {}
        self._down: str | None = None  # None, "status" or "refuse"
        self._down_status = 503
        self._users: dict[str, tuple[str, str]] = dict(users or {})
        self.channels: dict[str, Channel] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.ephemeral: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "api.test": lambda params: {"ok": True, "args": params},
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

    # ------------------------------------------------------------------------ lifecycle
    def start(self) -> FakeSlack:
        fake = self

        class Handler(_Handler):
            slack = fake

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """For `WebClient(base_url=...)` and `SLACK_API_URL`: ends with "/api/"."""
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/api/"

    # -------------------------------------------------------------------------- scripting
    def fail_next(self, method: str, error: str = "internal_error", *, times: int = 1) -> None:
        """The next `times` calls of `method` (or ANY) answer 200 {"ok": false, "error"}."""
        self._script(_Script(method, times, error=error))

    def rate_limit_next(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """The next `times` calls answer 429 with `Retry-After: retry_after` (seconds)."""
        self._script(
            _Script(method, times, status=429, error="ratelimited", retry_after=retry_after)
        )

    def status_next(self, method: str, status: int = 500, *, times: int = 1) -> None:
        """The next `times` calls answer this HTTP status (500 by default)."""
        self._script(_Script(method, times, status=status, error="internal_error"))

    def set_latency(self, seconds: float, method: str = ANY) -> None:
        """Delay every answer (to `method`, or to all) by `seconds`; 0 removes it."""
        with self._lock:
            self._latency[method] = seconds

    def go_down(self, *, refuse: bool = False, status: int = 503) -> None:
        """Until `come_up()`: answer every request with `status`, or (refuse) close the
        connection without answering, as a dead load balancer would."""
        with self._lock:
            self._down = "refuse" if refuse else "status"
            self._down_status = status

    def come_up(self) -> None:
        with self._lock:
            self._down = None

    def clear_scripts(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._latency.clear()
            self._down = None

    def _script(self, script: _Script) -> None:
        if script.times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._scripts.append(script)

    # ---------------------------------------------------------------------------- state
    def add_user(self, *, email: str, user_id: str, name: str) -> None:
        with self._lock:
            self._users[email.lower()] = (user_id, name)

    def add_channel(
        self, name: str, *, channel_id: str | None = None, members: Iterable[str] = ()
    ) -> Channel:
        """An existing channel (the announcements channel, say); the bot is a member."""
        with self._lock:
            channel = Channel(
                id=channel_id or self._new_id("C"),
                name=name,
                members={self.bot_user_id, *members},
                created=int(time.time()),
            )
            self.channels[channel.id] = channel
            return channel

    def channel_named(self, name: str) -> Channel | None:
        with self._lock:
            return next((c for c in self.channels.values() if c.name == name.lstrip("#")), None)

    def messages_in(self, channel_id: str) -> list[dict[str, Any]]:
        """Messages as they are now (after chat.update), oldest first."""
        with self._lock:
            found = [(ts, m) for (cid, ts), m in self.messages.items() if cid == channel_id]
            return [dict(m) for _, m in sorted(found, key=lambda pair: float(pair[0]))]

    # ------------------------------------------------------------------------ inspection
    def calls(self, method: str | None = None, *, ok: bool | None = None) -> list[Call]:
        with self._lock:
            return [
                c
                for c in self._calls
                if (method is None or c.method == method) and (ok is None or c.ok == ok)
            ]

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def wait_for(
        self, predicate: Callable[[FakeSlack], bool], *, timeout: float = 5.0, poll: float = 0.05
    ) -> None:
        """Block until `predicate(self)` holds (checked after every call, and every `poll`
        seconds for predicates that also read the app's database); AssertionError after
        `timeout` seconds. The app under test does its Slack work after the ack, so tests
        wait for the calls instead of sleeping."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    methods = [c.method for c in self._calls]
                    raise AssertionError(f"timed out after {timeout}s; calls so far: {methods}")
                self._changed.wait(min(left, poll))

    def wait_for_calls(
        self, method: str, *, count: int = 1, ok: bool | None = True, timeout: float = 5.0
    ) -> list[Call]:
        self.wait_for(lambda s: len(s.calls(method, ok=ok)) >= count, timeout=timeout)
        return self.calls(method, ok=ok)

    # -------------------------------------------------------------------------- serving
    def _record(self, call: Call) -> None:
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()

    def _respond(
        self, method: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        """(status, extra headers, JSON body); body None means close without answering."""
        with self._lock:
            down, down_status = self._down, self._down_status
            latency = self._latency.get(method, self._latency.get(ANY, 0.0))
        if down == "refuse":
            return 0, {}, None
        if down == "status":
            return down_status, {}, {"ok": False, "error": "service_unavailable"}
        if latency > 0:
            time.sleep(latency)
        with self._lock:
            script = next(
                (s for s in self._scripts if s.method in (method, ANY) and s.times > 0), None
            )
            if script is not None:
                script.times -= 1
                if script.times == 0:
                    self._scripts.remove(script)
        if script is not None:
            extra = {} if script.retry_after is None else {"Retry-After": str(script.retry_after)}
            return script.status, extra, {"ok": False, "error": script.error}
        problem = self._auth_problem(params, headers)
        if problem:
            return 200, {}, {"ok": False, "error": problem}
        handler = self._handlers.get(method)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        try:
            with self._lock:
                return 200, {}, handler(params)
        except _Reply as reply:
            return 200, {}, reply.body
        except Exception as exc:  # a bug in the fake: make it loud in the test, not a hang
            return 500, {}, {"ok": False, "error": f"fake_slack_bug: {exc!r}"}

    def _auth_problem(self, params: dict[str, Any], headers: dict[str, str]) -> str | None:
        auth = headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else params.get("token")
        if not given:
            return "not_authed"
        if self.token is not None and given != self.token:
            return "invalid_auth"
        return None

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
        named = next((c for c in self.channels.values() if c.name == ref.lstrip("#")), None)
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
        if email not in self._users:
            raise _Reply("users_not_found")
        user_id, name = self._users[email]
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


class _Handler(BaseHTTPRequestHandler):
    slack: FakeSlack
    server_version = "FakeSlack/1"

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read calls(), not a request log on stderr

    def _serve(self) -> None:
        arrived, started = time.time(), time.monotonic()
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not url.path.startswith("/api/") or len(url.path) <= len("/api/"):
            self._send(404, {}, {"ok": False, "error": "not_found"})
            return
        method = url.path[len("/api/") :]
        params = _parse_body(raw, headers.get("content-type", ""), url.query)
        status, extra, body = self.slack._respond(method, params, headers)
        self.slack._record(
            Call(method, params, headers, arrived, time.monotonic() - started, status, body)
        )
        if body is None:
            self.close_connection = True  # no answer at all: the client sees a dropped socket
            return
        self._send(status, extra, body)

    def _send(self, status: int, extra: Mapping[str, str], body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _parse_body(raw: bytes, content_type: str, query: str) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    text = raw.decode("utf-8", errors="replace")
    if "application/json" in content_type and text.strip():
        loaded = json.loads(text)
        if isinstance(loaded, dict):
            params.update(loaded)
    elif text:
        params.update(parse_qsl(text, keep_blank_values=True))
    for name in _JSON_FIELDS:
        # Form bodies carry structured fields as JSON strings; decode them so tests (and
        # the handlers) see the same thing whichever encoding the client chose.
        value = params.get(name)
        if isinstance(value, str):
            # Undecodable JSON stays a string: the handler answers invalid_*_format.
            with contextlib.suppress(ValueError):
                params[name] = json.loads(value)
    return params


def _text(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    return value if isinstance(value, str) else "" if value is None else str(value)


def _flag(params: Mapping[str, Any], key: str) -> bool:
    value = params.get(key)
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))
