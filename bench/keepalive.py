"""The load generator's HTTP client: one kept-alive `http.client` connection per thread.

The client shares the machine's two cores with the app under test, so what it spends per
request is taken from the app. httpx costs several times what the standard library's
`http.client` does for the same small POST; with the cheaper client more of the machine
goes to the app, and the baseline run with the same client shows what is left for it.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Mapping


class KeepAlive:
    """POST and GET over this thread's connection to 127.0.0.1:`port` (opened on first use,
    reopened once if the server closed it between requests)."""

    def __init__(self, port: int, *, timeout: float = 60.0) -> None:
        self.port = port
        self.timeout = timeout
        self._local = threading.local()
        self._opened: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn

    def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] = {}
    ) -> tuple[int, bytes]:
        """The status and body of the answer."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body or None, headers=dict(headers))
                reply = conn.getresponse()
                return reply.status, reply.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
