"""The HTTP face of FakeSlack: a threaded server on 127.0.0.1 that reads each request.

The handler turns a request into (Web API method, params, lower-cased headers), decoding form
and JSON bodies alike, and hands them to the fake's `respond`, which decides the answer and
records the call. An answer without a body closes the connection unanswered.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, urlsplit

_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")  # JSON strings inside form bodies

# respond(method, params, headers, arrived, started) -> (status, extra headers, JSON body);
# `arrived` is time.time() and `started` time.monotonic() when the request came in.
Respond: TypeAlias = Callable[
    [str, dict[str, Any], dict[str, str], float, float],
    tuple[int, dict[str, str], dict[str, Any] | None],
]


def make_server(respond: Respond) -> ThreadingHTTPServer:
    """A server on a free port of 127.0.0.1 (port 0, so tests never collide); not started."""

    class Handler(_Handler):
        answer = staticmethod(respond)

    return _Server(("127.0.0.1", 0), Handler)


class _Server(ThreadingHTTPServer):
    # The default listen backlog of 5 resets connections when many clients call at once,
    # which real Slack never does; the fake must not be the bottleneck a test measures.
    request_queue_size = 256
    daemon_threads = True
    accepted = 0  # connections accepted (one thread accepts them: no lock)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.accepted += 1
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        # Kept-alive connections end with the fake: their threads would otherwise wait on
        # them (and keep their sockets) until each client closes its side.
        super().server_close()
        with self._open_lock:
            still_open, self._open = list(self._open), set()
        for request in still_open:
            with contextlib.suppress(OSError):
                request.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    answer: Respond
    server_version = "FakeSlack/1"
    # Keep-alive, as slack.com does: a client that reuses its connections is served on them.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else a kept-alive answer waits 40 ms for a delayed ACK

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
        status, extra, body = self.answer(method, params, headers, arrived, started)
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
