"""The WSGI app behind POST /alerts/<source>: authenticate, bound, parse, ingest, answer JSON.

Order of checks, each answered before anything is written:
404 unknown or disabled source · 405 not POST · 503 the source's secret is not set ·
413 Content-Length over the policy's max_body_bytes · 401 bearer token · 413 body read past the
max · 401 signature · 400 malformed, with the reason · 200 the ingestion's result, answered once
the transaction holding the delivery (shared with those that arrived alongside it,
`storage.group_commit`) has committed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from commandpost.core.alerts import AlertSource
from commandpost.errors import InvalidInput
from commandpost.ingest import metrics
from commandpost.ingest.auth import Verifier, secret_name, verifier_for
from commandpost.ingest.http import (
    Refused,
    StartResponse,
    WSGIApp,
    request_headers,
    respond,
    respond_refused,
    verified_body,
)
from commandpost.service.alerts import IngestResult, Prepared, ingest_many, prepare
from commandpost.service.context import Context
from commandpost.service.origin import acting_from
from commandpost.storage.group_commit import Arrival, GroupCommit

log = logging.getLogger(__name__)

PREFIX = "/alerts/"


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
    commits: GroupCommit[Prepared, IngestResult] = GroupCommit(
        lambda deliveries: _from_alerts(ctx, deliveries)
    )

    def handle(
        environ: dict[str, Any], arrival: Arrival[Prepared, IngestResult]
    ) -> tuple[AlertSource, dict[str, Any]]:
        name = str(environ.get("PATH_INFO", "")).removeprefix(PREFIX).strip("/")
        try:
            source = AlertSource(name)
        except ValueError:
            raise Refused(404, "unknown_source", f"no alert source {name[:40]!r}") from None
        if source not in verifiers:
            message = f"alert source {source.value} is not enabled in the policy"
            raise Refused(404, "source_disabled", message)
        if environ.get("REQUEST_METHOD") != "POST":
            raise Refused(405, "method_not_allowed", "alerts are delivered with POST")
        verifier = verifiers[source]
        if verifier is None:
            raise Refused(503, "not_configured", f"alert source {source.value} has no secret set")
        body = verified_body(
            environ,
            request_headers(environ),
            verifier=verifier,
            limit=rules.max_body_bytes,
            now=ctx.now(),
        )
        try:
            delivery = prepare(ctx, source=source, body=body, received_at=ctx.now())
        except InvalidInput as exc:
            raise Refused(400, "malformed", str(exc)) from None
        result = arrival.ingest(delivery)
        outcome = "duplicate" if result.duplicate else "handled"
        metrics.ACCEPTED.labels(source=source.value, outcome=outcome).inc()
        return source, {"ok": True, **result.to_json()}

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            with commits.arriving() as arrival:
                _source, answer = handle(environ, arrival)
        except Refused as refused:
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
            return respond_refused(start_response, refused)
        except Exception:
            source = _source_label(environ)
            metrics.ACCEPTED.labels(source=source, outcome="failed").inc()
            log.exception("alert delivery failed: source=%s", source)
            body = {"ok": False, "error": "internal", "reason": "the delivery was not handled"}
            return respond(start_response, status=500, body=body)
        return respond(start_response, status=200, body=answer)

    return app


def _from_alerts(ctx: Context, deliveries: Sequence[Prepared]) -> list[IngestResult]:
    # Set where the batch runs: its leader may be another request's thread.
    with acting_from("alert"):
        return ingest_many(ctx, deliveries)


def _source_label(environ: Mapping[str, Any]) -> str:
    # A metric label from a closed set: arbitrary paths would grow the series without bound.
    name = str(environ.get("PATH_INFO", "")).removeprefix(PREFIX).strip("/")
    return name if name in {s.value for s in AlertSource} else "unknown"
