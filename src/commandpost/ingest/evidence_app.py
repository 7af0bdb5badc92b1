"""The WSGI app behind POST /incidents/<id>/evidence: monitors seal evidence on an incident.

    POST /incidents/INC-2026-0001/evidence?kind=output&note=flagged+reply
    Content-Type: text/plain; charset=utf-8
    X-CommandPost-Source: guardrail
    Authorization: Bearer <token>          (or the HMAC headers of `ingest.auth`)

    <the raw bytes to seal>

Order of checks, each answered before anything is written: 405 not POST · 503 no evidence
sources configured · 401 missing or unknown source · 413 Content-Length over the limit ·
401 bearer token · 413 body read past the limit · 401 signature · 400 malformed (kind, note,
Content-Type, empty body), with the reason · 404 no such incident · 201 sealed, or 200 when
the incident already holds these bytes (the same record: a retry is harmless).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from commandpost.errors import InvalidInput, NotFound
from commandpost.ingest.auth import Bearer, Signature, Verifier
from commandpost.ingest.http import (
    Refused,
    StartResponse,
    WSGIApp,
    request_headers,
    respond,
    respond_refused,
    verified_body,
)
from commandpost.service import evidence
from commandpost.service.context import Context
from commandpost.service.ids import parse_incident_id
from commandpost.service.origin import acting_from
from commandpost.settings import EvidenceSource, Settings

log = logging.getLogger(__name__)

SOURCE_HEADER = "X-CommandPost-Source"
PATH = re.compile(r"^/incidents/([^/]+)/evidence$")
NOTE_CHARS = 200
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")
_PARAMS = frozenset({"kind", "note"})


def is_evidence_path(path: str) -> bool:
    """Exactly /incidents/<id>/evidence: the incident pages beside it are someone else's."""
    return PATH.fullmatch(path) is not None


def verifier(source: EvidenceSource) -> Verifier:
    secret = source.secret.get_secret_value()
    if source.auth == "bearer":
        return Bearer(secret)
    return Signature(secret, timedelta(seconds=source.tolerance_seconds))


def evidence_ingest_app(ctx: Context, settings: Settings) -> WSGIApp:
    verifiers = {
        name: verifier(source)
        for name, source in settings.evidence_sources.items()
        if source.secret.get_secret_value()
    }
    limit = settings.evidence_max_bytes

    def handle(environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if environ.get("REQUEST_METHOD") != "POST":
            raise Refused(405, "method_not_allowed", "evidence is delivered with POST")
        if not verifiers:
            message = "no evidence sources are configured (COMMANDPOST_EVIDENCE_SOURCES)"
            raise Refused(503, "not_configured", message)
        headers = request_headers(environ)
        source = headers.get(SOURCE_HEADER.lower(), "").strip()
        check = verifiers.get(source)
        if check is None:
            raise Refused(401, "unauthenticated", f"missing or unknown {SOURCE_HEADER}")
        body = verified_body(environ, headers, verifier=check, limit=limit, now=ctx.now())
        kind, note = _query(str(environ.get("QUERY_STRING", "")))
        media_type = _media_type(str(environ.get("CONTENT_TYPE", "")))
        if not body.strip():
            raise Refused(400, "malformed", "the body is empty: it is the evidence to seal")
        match = PATH.fullmatch(str(environ.get("PATH_INFO", "")))
        assert match is not None  # the mount's predicate
        try:
            incident_id = parse_incident_id(match.group(1))
        except InvalidInput as exc:
            raise Refused(404, "unknown_incident", str(exc)) from None
        try:
            # Monitors are the alert sources' kind of caller: their events say `via: alert`.
            with acting_from("alert"):
                added, created = evidence.add_from_monitor(
                    ctx,
                    incident_id,
                    source=source,
                    content=body,
                    kind=kind,
                    label=note,
                    media_type=media_type,
                )
        except NotFound as exc:
            raise Refused(404, "unknown_incident", str(exc)) from None
        except InvalidInput as exc:
            raise Refused(400, "malformed", str(exc)) from None
        answer = {
            "ok": True,
            "created": created,
            "evidence_id": added.id,
            "incident": added.incident_id,
            "sha256": added.sha256,
            "size": added.size,
        }
        return (201 if created else 200), answer

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, answer = handle(environ)
        except Refused as refused:
            log.warning(
                "evidence delivery refused: status=%d reason=%s: %s (remote %s)",
                refused.status,
                refused.reason,
                refused,
                environ.get("REMOTE_ADDR", "?"),
            )
            return respond_refused(start_response, refused)
        except Exception:
            log.exception("evidence delivery failed: %s", environ.get("PATH_INFO", "")[:80])
            body = {"ok": False, "error": "internal", "reason": "the evidence was not sealed"}
            return respond(start_response, status=500, body=body)
        log.info(
            "evidence %s: #%s %s from %s",
            "sealed" if answer["created"] else "already sealed",
            answer["evidence_id"],
            answer["sha256"],
            answer["incident"],
        )
        return respond(start_response, status=status, body=answer)

    return app


def _query(raw: str) -> tuple[str, str]:
    try:
        params = parse_qs(raw, keep_blank_values=True, strict_parsing=bool(raw))
    except ValueError:
        raise Refused(400, "malformed", "the query string is not name=value pairs") from None
    unknown = sorted(set(params) - _PARAMS)
    if unknown:
        raise Refused(400, "malformed", f"unknown parameter {unknown[0][:40]!r}; use kind, note")
    if any(len(values) > 1 for values in params.values()):
        raise Refused(400, "malformed", "kind and note are given once each")
    kind = params.get("kind", [""])[0].strip().lower()
    if not kind:
        raise Refused(400, "malformed", f"kind is required: one of {', '.join(evidence.KINDS)}")
    if kind not in evidence.KINDS:
        raise Refused(
            400, "malformed", f"unknown kind {kind[:40]!r}; use one of {', '.join(evidence.KINDS)}"
        )
    note = params.get("note", [""])[0].strip()
    if len(note) > NOTE_CHARS:
        raise Refused(400, "malformed", f"note is longer than {NOTE_CHARS} characters")
    return kind, note


def _media_type(raw: str) -> str:
    value = raw.strip()
    essence = value.split(";", 1)[0].strip()
    if not value:
        raise Refused(400, "malformed", "Content-Type is required (the media type of the body)")
    if not _MEDIA_TYPE.fullmatch(essence) or len(value) > 100:
        raise Refused(400, "malformed", f"Content-Type {value[:60]!r} is not a media type")
    return value
