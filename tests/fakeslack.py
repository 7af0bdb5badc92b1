"""A local fake of Slack's Web API for end-to-end tests.

`FakeSlack` is a real HTTP server on 127.0.0.1 (port 0, so tests never collide) that a real
`slack_sdk.WebClient(base_url=fake.base_url, token=fake.token)` talks to. It answers the
methods Command Post calls with the shapes Slack documents (ids, `ts` values, the errors a
caller must handle: `name_taken`, `already_in_channel`, `not_in_channel`, ...), keeps the
workspace state those answers imply (channels, members, messages, pins), and records every
request thread-safely so a test can assert on exactly what reached "Slack". The workspace
and what each method does to it are in fakeslack_workspace, the HTTP server in fakeslack_http.

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

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

from .fakeslack_http import make_server
from .fakeslack_workspace import Channel, Workspace

ANY = "*"  # a method name in scripts that matches every method


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
class _Script:
    method: str
    times: int
    status: int = 200
    error: str = ""
    retry_after: int | None = None


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
        self.workspace = Workspace(
            team_id=team_id, bot_user_id=bot_user_id, bot_id=bot_id, users=users or {}
        )
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------ lifecycle
    def start(self) -> FakeSlack:
        self._server = make_server(self._answer)
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
    @property
    def connections(self) -> int:
        """Connections accepted so far: a client that keeps them alive opens few."""
        server = self._server
        return getattr(server, "accepted", 0) if server is not None else 0

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
    @property
    def channels(self) -> dict[str, Channel]:
        return self.workspace.channels

    @property
    def messages(self) -> dict[tuple[str, str], dict[str, Any]]:
        return self.workspace.messages

    @property
    def ephemeral(self) -> list[dict[str, Any]]:
        return self.workspace.ephemeral

    @property
    def views(self) -> list[dict[str, Any]]:
        return self.workspace.views

    def add_user(self, *, email: str, user_id: str, name: str) -> None:
        with self._lock:
            self.workspace.users[email.lower()] = (user_id, name)

    def add_channel(
        self, name: str, *, channel_id: str | None = None, members: Iterable[str] = ()
    ) -> Channel:
        """An existing channel (the announcements channel, say); the bot is a member."""
        with self._lock:
            return self.workspace.add_channel(name, channel_id=channel_id, members=members)

    def channel_named(self, name: str) -> Channel | None:
        with self._lock:
            return self.workspace.channel_named(name)

    def messages_in(self, channel_id: str) -> list[dict[str, Any]]:
        """Messages as they are now (after chat.update), oldest first."""
        with self._lock:
            return self.workspace.messages_in(channel_id)

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
    def _answer(
        self,
        method: str,
        params: dict[str, Any],
        headers: dict[str, str],
        arrived: float,
        started: float,
    ) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        status, extra, body = self._respond(method, params, headers)
        self._record(
            Call(method, params, headers, arrived, time.monotonic() - started, status, body)
        )
        return status, extra, body

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
        try:
            with self._lock:
                return 200, {}, self.workspace.answer(method, params)
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
