"""What the machine-to-machine endpoints (`app` for alerts, `evidence_app` for evidence)
share: a refusal that carries its status, the bounded and authenticated body read, and the
JSON answer.

`verified_body` keeps the order both endpoints promise: 413 on a declared Content-Length
over the limit, 401 on the headers (a bearer token), 413 on a body read past the limit,
401 on the signature over the body; nothing is read before the headers pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from commandpost.ingest.auth import Verifier

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
STATUS = {
    200: "200 OK",
    201: "201 Created",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    413: "413 Content Too Large",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}


class Refused(Exception):
    """A request answered with `status` and nothing written; `reason` is a short word for
    the answer and the metrics."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(message)


def request_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """The HTTP_ headers, named as sent (lower case, dashes)."""
    return {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }


def content_length(environ: Mapping[str, Any]) -> int | None:
    raw = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise Refused(400, "malformed", "Content-Length is not a number")
    return int(raw)


def read_body(environ: Mapping[str, Any], *, limit: int) -> bytes | None:
    """The body, or None past `limit` bytes; never reads more than one byte past it."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(64 * 1024, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > limit else b"".join(chunks)


def verified_body(
    environ: Mapping[str, Any],
    headers: Mapping[str, str],
    *,
    verifier: Verifier,
    limit: int,
    now: datetime,
) -> bytes:
    """The body, once it is within `limit` and `verifier` accepts headers and body;
    Refused (413 or 401) otherwise."""
    too_large = f"the body is larger than {limit} bytes"
    declared = content_length(environ)
    if declared is not None and declared > limit:
        raise Refused(413, "too_large", too_large)
    problem = verifier.check_headers(headers)
    if problem is not None:
        raise Refused(401, "unauthenticated", problem)
    body = read_body(environ, limit=limit)
    if body is None:
        raise Refused(413, "too_large", too_large)
    problem = verifier.check_body(headers, body, now)
    if problem is not None:
        raise Refused(401, "unauthenticated", problem)
    return body


def respond(
    start_response: StartResponse,
    *,
    status: int,
    body: Mapping[str, Any],
    extra: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    payload = json.dumps(body, sort_keys=True).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(payload))),
        *extra,
    ]
    start_response(STATUS[status], headers)
    return [payload]


def respond_refused(start_response: StartResponse, refused: Refused) -> list[bytes]:
    """The JSON answer to a refusal; a 405 names the one method allowed."""
    extra = [("Allow", "POST")] if refused.status == 405 else []
    body = {"ok": False, "error": refused.reason, "reason": str(refused)}
    return respond(start_response, status=refused.status, body=body, extra=extra)
