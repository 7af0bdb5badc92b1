"""slack_sdk's WebClient over kept-alive connections, one per thread and host.

The stock client opens a new connection for every Web API call (urllib, no keep-alive): a TCP
handshake each time, and against slack.com a TLS handshake too. A channel set-up makes six
calls and a busy incident a call per message. Measured on the local fake, 500 calls from one
thread: 0.64 ms of client CPU a call with the stock client, 0.42-0.50 ms kept alive, and the
server side's 0.54 ms fell to 0.31-0.36 ms. (urllib3's pool kept the connections too, but its
own overhead made the client dearer than the stock one: 0.75 ms a call.)

Only the transport changes: the request slack_sdk builds and the answer it parses are the
same, an HTTP error status is raised as urllib's HTTPError, and a failure as the error urllib
raises for it, so slack_sdk's handling of 429, its retry handlers and SlackApiError behave as
with the stock client. This transport never re-sends a request itself: a connection that
fails is closed. An idle connection the server has closed is noticed before it is used, and
replaced.
"""

from __future__ import annotations

import io
import logging
import select
import threading
import weakref
from http.client import HTTPConnection, HTTPSConnection
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import SplitResult, urlsplit
from urllib.request import Request

from slack_sdk import WebClient


class PooledWebClient(WebClient):
    def __init__(self, **options: Any) -> None:
        options.setdefault("logger", _Levelled(logging.getLogger(_SDK_LOGGER), {}))
        super().__init__(**options)
        self._local = threading.local()
        # Every connection opened, to close them with the client (not left to the collector,
        # which warns about each socket it has to close).
        self._opened: list[HTTPConnection] = []
        self._closer = weakref.finalize(self, _close_all, self._opened)

    def close(self) -> None:
        """Close the kept connections; a later call opens a new one."""
        _close_all(self._opened)

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        parts = urlsplit(url)
        if self.proxy is not None or parts.scheme not in ("http", "https"):
            answered: dict[str, Any] = super()._perform_urllib_http_request_internal(url, req)
            return answered
        connection = self._connection(parts)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        body: bytes | None = req.data  # type: ignore[assignment]  # slack_sdk sends bytes
        # Failures surface as urllib's do: sending as URLError, an answer that breaks off as
        # itself (RemoteDisconnected, a timeout). slack_sdk retries some of those once on
        # its own, by their type; the same types keep the same retries.
        try:
            try:
                connection.request(
                    req.get_method(), path, body=body, headers=dict(req.header_items())
                )
            except OSError as exc:
                raise URLError(exc) from exc
            answer = connection.getresponse()
            data = answer.read()
        except BaseException:
            connection.close()
            raise
        if answer.will_close:
            connection.close()
        headers = answer.msg
        if answer.status >= 400:
            raise HTTPError(url, answer.status, answer.reason, headers, io.BytesIO(data))
        charset = headers.get_content_charset() or "utf-8"
        return {"status": answer.status, "headers": headers, "body": data.decode(charset)}

    def _connection(self, parts: SplitResult) -> HTTPConnection:
        kept: dict[str, HTTPConnection] | None = getattr(self._local, "kept", None)
        if kept is None:
            kept = self._local.kept = {}
        key = f"{parts.scheme}://{parts.netloc}"
        connection = kept.get(key)
        if connection is not None:
            if _closed_by_peer(connection):
                # Closed while idle: reconnect (http.client does, once closed) rather than
                # send a request that fails.
                connection.close()
            return connection
        host, port = parts.hostname or "", parts.port
        if parts.scheme == "https":
            connection = HTTPSConnection(host, port, timeout=self.timeout, context=self.ssl)
        else:
            connection = HTTPConnection(host, port, timeout=self.timeout)
        kept[key] = connection
        with _OPENING:
            self._opened.append(connection)
        return connection


_OPENING = threading.Lock()
_SDK_LOGGER = "slack_sdk.web.base_client"  # the logger slack_sdk's client would have used


class _Levelled(logging.LoggerAdapter[logging.Logger]):
    """slack_sdk's logger, with `level` the level it actually logs at.

    slack_sdk asks its logger's own `level`, which is 0 (unset) unless someone sets it,
    whether to build its debug line; so every call put the whole request, blocks and all,
    into text, for the line to be dropped at the usual WARNING. The saving is small: for the
    summary card (6 blocks, 1.9 KB of JSON) chat.postMessage cost 0.597 ms of client CPU a
    call against 0.576 ms without the line (medians of 8 alternated rounds of 300 calls to
    the local fake, one thread). With debug logging on, the line is built as before."""

    @property
    def level(self) -> int:
        return self.logger.getEffectiveLevel()


def _close_all(connections: list[HTTPConnection]) -> None:
    with _OPENING:
        for connection in connections:
            connection.close()


def _closed_by_peer(connection: HTTPConnection) -> bool:
    """Nothing arrives on a kept-alive connection between answers: if an idle one has
    something to read, the server closed it (or it broke)."""
    sock = connection.sock
    if sock is None:
        return False
    if hasattr(select, "poll"):  # select() cannot watch descriptors above 1023
        waiting = select.poll()
        waiting.register(sock, select.POLLIN)
        return bool(waiting.poll(0))
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)
