"""Socket Mode for FakeSlack: `apps.connections.open` and the WebSocket the app then holds.

`SocketModeSlack` is a FakeSlack that also knows an app-level token (`xapp-…`). As on Slack,
app-level tokens are good for `apps.connections.open` only, and a bot token cannot open a
socket (`not_allowed_token_type`). Each call issues a one-time URL
`ws://127.0.0.1:<port>/link/?ticket=<n>&app_id=A0FAKE` on `SocketLink`, a local WebSocket
server (port 0; websockets' threaded server, which also answers the client's pings); a
connection presenting a ticket that was never issued, or was used already, is refused.

The test plays Slack's side of the socket, as Slack's Socket Mode guide describes it: every new
connection first gets `hello`; `send()` pushes an envelope
`{"envelope_id", "type", "payload", "accepts_response_payload"}` to the newest connection; the
app must answer `{"envelope_id", "payload"?}` within 3 seconds, which `wait_for_ack()` returns
with how long it took; `disconnect()` sends `{"type": "disconnect"}`, after which the client
asks for a new URL and reconnects.

    with SocketModeSlack() as slack:
        settings = SlackSettings(..., api_url=slack.base_url, app_token=slack.app_token)
        ...
        slack.socket.wait_for_connections(1)
        envelope_id = slack.socket.send("slash_commands", {...})
        ack = slack.socket.wait_for_ack(envelope_id)
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from .fakeslack import FakeSlack

CONNECTIONS_OPEN = "apps.connections.open"
_APP_TOKEN = "xapp-"  # how app-level tokens begin


@dataclass(frozen=True)
class Ack:
    """The app's answer to one envelope."""

    envelope_id: str
    payload: dict[str, Any] | None  # what Slack shows or does in reply (ephemeral text, ...)
    elapsed: float  # seconds from sending the envelope to receiving this


class SocketLink:
    """The WebSocket end of Socket Mode; see the module docstring."""

    def __init__(self, *, app_id: str = "A0FAKE") -> None:
        self.app_id = app_id
        self._changed = threading.Condition(threading.Lock())
        self._tickets = itertools.count(1)
        self._issued: set[str] = set()
        self._open: list[ServerConnection] = []
        self._sent: dict[str, float] = {}  # envelope id -> time.monotonic() when sent
        self._acks: dict[str, Ack] = {}
        self.connections = 0  # accepted so far, reconnections included
        self.received: list[dict[str, Any]] = []  # every message from the app, in order
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------ lifecycle
    def start(self) -> SocketLink:
        self._server = serve(
            self._serve, "127.0.0.1", 0, compression=None, process_request=self._check_ticket
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-socket-mode", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._changed:
            still_open = list(self._open)
        for ws in still_open:
            ws.close()
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("SocketLink is not started")
        return int(self._server.socket.getsockname()[1])

    def issue_url(self) -> str:
        """What apps.connections.open answers: a URL good for one connection."""
        with self._changed:
            ticket = f"{next(self._tickets):06d}"
            self._issued.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    # -------------------------------------------------------------------- Slack's side
    def send(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = True,
        retry_attempt: int | None = None,
    ) -> str:
        """Push an envelope (`slash_commands`, `interactive`, `events_api`) to the newest
        connection; returns its envelope id."""
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if retry_attempt is not None:  # events_api redeliveries say which attempt they are
            envelope.update(retry_attempt=retry_attempt, retry_reason="timeout")
        with self._changed:
            if not self._open:
                raise RuntimeError("no app is connected")
            ws = self._open[-1]
            self._sent[envelope_id] = time.monotonic()
        ws.send(json.dumps(envelope))
        return envelope_id

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the newest connection to go and reconnect, as Slack does every few hours."""
        with self._changed:
            ws = self._open[-1]
        ws.send(json.dumps({"type": "disconnect", "reason": reason, "debug_info": _DEBUG}))

    # ------------------------------------------------------------------------ inspection
    @property
    def open_connections(self) -> int:
        with self._changed:
            return len(self._open)

    def acks(self) -> list[Ack]:
        with self._changed:
            return list(self._acks.values())

    def wait_for_connections(self, count: int = 1, *, timeout: float = 5.0) -> None:
        """Until `count` connections have been accepted in all (and one is open)."""
        self._wait(lambda: self.connections >= count and bool(self._open), timeout, "connection")

    def wait_for_ack(self, envelope_id: str, *, timeout: float = 5.0) -> Ack:
        self._wait(lambda: envelope_id in self._acks, timeout, f"ack of {envelope_id}")
        with self._changed:
            return self._acks[envelope_id]

    def _wait(self, done: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no {what} after {timeout}s; received so far: {self.received}"
                    )
                self._changed.wait(left)

    # -------------------------------------------------------------------------- serving
    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        ticket = parse_qs(urlsplit(request.path).query).get("ticket", [""])[0]
        with self._changed:
            if ticket in self._issued:
                self._issued.discard(ticket)
                return None
        return connection.respond(HTTPStatus.UNAUTHORIZED, "unknown or used ticket\n")

    def _serve(self, ws: ServerConnection) -> None:
        with self._changed:
            self._open.append(ws)
            self.connections += 1
            hello = {
                "type": "hello",
                "num_connections": len(self._open),
                "debug_info": {**_DEBUG, "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
            self._changed.notify_all()
        try:
            ws.send(json.dumps(hello))
            for message in ws:
                self._receive(message)
        except ConnectionClosed:
            pass  # the app dropped the socket; reconnecting is the client's job
        finally:
            with self._changed:
                self._open.remove(ws)
                self._changed.notify_all()

    def _receive(self, message: str | bytes) -> None:
        arrived = time.monotonic()
        data = json.loads(message)
        with self._changed:
            self.received.append(data)
            envelope_id = data.get("envelope_id")
            if envelope_id in self._sent and envelope_id not in self._acks:
                # Slack takes the first ack; a second one for the same envelope is ignored.
                elapsed = arrived - self._sent[envelope_id]
                self._acks[envelope_id] = Ack(envelope_id, data.get("payload"), elapsed)
            self._changed.notify_all()


_DEBUG = {"host": "applink-fake-1", "build_number": 1}


class SocketModeSlack(FakeSlack):
    """FakeSlack plus Socket Mode: the Web API on `base_url`, the socket on `socket`."""

    def __init__(self, *, app_token: str = "xapp-1-A0FAKE-1-fake", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app_token = app_token
        self.socket = SocketLink()
        self.workspace.socket_url = self.socket.issue_url

    def start(self) -> SocketModeSlack:
        self.socket.start()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        self.socket.stop()

    def __enter__(self) -> SocketModeSlack:
        return self.start()

    def _respond(
        self, method: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        given = _bearer(params, headers)
        if given and given.startswith(_APP_TOKEN) != (method == CONNECTIONS_OPEN):
            # Slack keeps the two kinds apart: an app-level token opens sockets and does
            # nothing else, and a bot token cannot open one.
            return 200, {}, {"ok": False, "error": "not_allowed_token_type"}
        return super()._respond(method, params, headers)

    def _auth_problem(self, params: dict[str, Any], headers: dict[str, str]) -> str | None:
        given = _bearer(params, headers)
        if given and given.startswith(_APP_TOKEN):  # _respond kept it to apps.connections.open
            return None if given == self.app_token else "invalid_auth"
        return super()._auth_problem(params, headers)


def _bearer(params: dict[str, Any], headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    token = params.get("token")
    return token if isinstance(token, str) else None
