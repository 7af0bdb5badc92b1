"""The WSGI app behind POST /alerts/<source>: authenticate, bound, parse, ingest, answer JSON.

Order of checks, each answered before anything is written:
404 unknown or disabled source · 405 not POST · 503 the source's secret is not set ·
413 Content-Length over the policy's max_body_bytes · 401 bearer token · 413 body read past the
max · 401 signature · 400 malformed, with the reason · 200 the ingestion's result, answered once
the transaction holding the delivery (shared with those that arrived alongside it,
`ingest.batch`) has committed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from commandpost.core.alerts import AlertSource
from commandpost.errors import InvalidInput
from commandpost.ingest import metrics
from commandpost.ingest.auth import Verifier, secret_name, verifier_for
from commandpost.ingest.batch import Arrival, GroupCommit
from commandpost.service.alerts import IngestResult, Prepared, ingest_many, prepare
from commandpost.service.context import Context
from commandpost.service.origin import acting_from

log = logging.getLogger(__name__)

PREFIX = "/alerts/"
StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
_STATUS = {
    200: "200 OK",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    413: "413 Content Too Large",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}


@dataclass(frozen=True)
class IngestSettings:
    """Where the policy's `env:NAME` secret references are looked up."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> IngestSettings:
        return cls(environ=dict(env))


def is_alert_path(path: str) -> bool:
    """Whether a request path belongs to the alert endpoints (mount the app for these)."""
    return path.startswith(PREFIX)


class _Refused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(message)


def alert_ingest_app(ctx: Context, settings: IngestSettings | None = None) -> WSGIApp:
    """The WSGI callable for /alerts/<source>, for the sources the policy enables."""
    environ_secrets = (settings or IngestSettings()).environ
    rules = ctx.policy.alerts
    verifiers: dict[AlertSource, Verifier | None] = {}
    for source, auth in rules.sources.items():
        verifiers[source] = verifier_for(auth, environ_secrets)
        if verifiers[source] is None:
            log.warning(
                "alert source %s: %s is not set; its endpoint answers 503",
                source.value,
                secret_name(auth),
            )
    # One per app: the deliveries its request threads take in share transactions.
    commits = GroupCommit(lambda deliveries: _from_alerts(ctx, deliveries))

    def handle(environ: dict[str, Any], arrival: Arrival) -> tuple[AlertSource, dict[str, Any]]:
        name = str(environ.get("PATH_INFO", "")).removeprefix(PREFIX).strip("/")
        try:
            source = AlertSource(name)
        except ValueError:
            raise _Refused(404, "unknown_source", f"no alert source {name[:40]!r}") from None
        if source not in verifiers:
            message = f"alert source {source.value} is not enabled in the policy"
            raise _Refused(404, "source_disabled", message)
        if environ.get("REQUEST_METHOD") != "POST":
            raise _Refused(405, "method_not_allowed", "alerts are delivered with POST")
        verifier = verifiers[source]
        if verifier is None:
            raise _Refused(503, "not_configured", f"alert source {source.value} has no secret set")
        headers = _headers(environ)
        declared = _content_length(environ)
        if declared is not None and declared > rules.max_body_bytes:
            raise _Refused(413, "too_large", _too_large(rules.max_body_bytes))
        problem = verifier.check_headers(headers)
        if problem is not None:
            raise _Refused(401, "unauthenticated", problem)
        body = _read(environ, limit=rules.max_body_bytes)
        if body is None:
            raise _Refused(413, "too_large", _too_large(rules.max_body_bytes))
        problem = verifier.check_body(headers, body, ctx.now())
        if problem is not None:
            raise _Refused(401, "unauthenticated", problem)
        try:
            delivery = prepare(ctx, source=source, body=body, received_at=ctx.now())
        except InvalidInput as exc:
            raise _Refused(400, "malformed", str(exc)) from None
        result = arrival.ingest(delivery)
        outcome = "duplicate" if result.duplicate else "handled"
        metrics.ACCEPTED.labels(source=source.value, outcome=outcome).inc()
        return source, {"ok": True, **result.to_json()}

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            with commits.arriving() as arrival:
                _source, answer = handle(environ, arrival)
        except _Refused as refused:
            source = _source_label(environ)
            metrics.REJECTED.labels(source=source, reason=refused.reason).inc()
            log.warning(
                "alert delivery refused: source=%s status=%d reason=%s: %s (remote %s)",
                source,
                refused.status,
                refused.reason,
                refused,
                environ.get("REMOTE_ADDR", "?"),
            )
            extra = [("Allow", "POST")] if refused.status == 405 else []
            body = {"ok": False, "error": refused.reason, "reason": str(refused)}
            return _respond(start_response, refused.status, body, extra)
        except Exception:
            source = _source_label(environ)
            metrics.ACCEPTED.labels(source=source, outcome="failed").inc()
            log.exception("alert delivery failed: source=%s", source)
            body = {"ok": False, "error": "internal", "reason": "the delivery was not handled"}
            return _respond(start_response, 500, body)
        return _respond(start_response, 200, answer)

    return app


def _from_alerts(ctx: Context, deliveries: Sequence[Prepared]) -> list[IngestResult]:
    # Set where the batch runs: its leader may be another request's thread.
    with acting_from("alert"):
        return ingest_many(ctx, deliveries)


def _source_label(environ: Mapping[str, Any]) -> str:
    # A metric label from a closed set: arbitrary paths would grow the series without bound.
    name = str(environ.get("PATH_INFO", "")).removeprefix(PREFIX).strip("/")
    return name if name in {s.value for s in AlertSource} else "unknown"


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    return {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }


def _content_length(environ: Mapping[str, Any]) -> int | None:
    raw = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise _Refused(400, "malformed", "Content-Length is not a number")
    return int(raw)


def _read(environ: Mapping[str, Any], *, limit: int) -> bytes | None:
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


def _too_large(limit: int) -> str:
    return f"the body is larger than {limit} bytes"


def _respond(
    start_response: StartResponse,
    status: int,
    body: dict[str, Any],
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    payload = json.dumps(body, sort_keys=True).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(payload))),
        *(extra or []),
    ]
    start_response(_STATUS[status], headers)
    return [payload]
