"""POST /incidents/<id>/evidence over real HTTP against the served app (`serving.build_server`,
as `commandpost serve` runs it), with FakeSlack as the workspace, on each database lane."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, func, select

from commandpost.core.policy import Policy
from commandpost.evidence import LocalEvidenceStore
from commandpost.ingest import sign
from commandpost.ingest.evidence_app import is_evidence_path
from commandpost.serving import build_server
from commandpost.settings import EvidenceSource, Settings
from commandpost.storage import models as m
from commandpost.storage.evidence_models import Evidence

from .fakeslack import FakeSlack
from .slacke2e import Env, declare, slack_settings, start_fake
from .slackreq import SlackClient

HMAC_SECRET = "guardrail-hmac-secret"
TOKEN = "scanner-bearer-token"
LIMIT = 4096
LEAK = b"reply to user 7: card 4111 1111 1111 1111, email bob.smith@example.com"
TABLES: tuple[Any, ...] = (Evidence, m.AuditEvent, m.OutboxItem)


@pytest.fixture
def served(db_url: str, policy: Policy) -> Iterator[Env]:
    fake = start_fake()
    settings = Settings(
        evidence_sources={
            "guardrail": EvidenceSource(auth="hmac", secret=HMAC_SECRET),  # type: ignore[arg-type]
            "scanner": EvidenceSource(auth="bearer", secret=TOKEN),  # type: ignore[arg-type]
        },
        evidence_max_bytes=LIMIT,
    )
    server = build_server(
        database_url=db_url, policy=policy, slack=slack_settings(fake), settings=settings
    ).start()
    try:
        yield Env(fake, server, SlackClient(f"http://127.0.0.1:{server.port}"))
    finally:
        server.stop()
        fake.stop()
        server.ctx.engine.dispose()


def url(env: Env, incident_id: str, query: str = "kind=output") -> str:
    return f"http://127.0.0.1:{env.server.port}/incidents/{incident_id}/evidence?{query}"


def signed(
    env: Env, body: bytes, *, source: str = "guardrail", at: int | None = None
) -> dict[str, str]:
    stamp = int(env.server.ctx.now().timestamp()) if at is None else at
    return {
        "X-CommandPost-Source": source,
        "X-CommandPost-Timestamp": str(stamp),
        "X-CommandPost-Signature": sign(HMAC_SECRET, timestamp=stamp, body=body),
        "Content-Type": "text/plain; charset=utf-8",
    }


def bearer(token: str = TOKEN, *, source: str = "scanner") -> dict[str, str]:
    return {
        "X-CommandPost-Source": source,
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
    }


def counts(env: Env) -> list[int]:
    with Session(env.server.ctx.engine) as s:
        return [int(s.exec(select(func.count()).select_from(t)).one()) for t in TABLES]


def stored(env: Env) -> list[str]:
    store = env.server.ctx.evidence
    assert isinstance(store, LocalEvidenceStore)
    return list(store.iter())


def test_the_path_predicate_claims_exactly_the_evidence_path() -> None:
    assert is_evidence_path("/incidents/INC-2026-0001/evidence")
    for other in (
        "/incidents/INC-2026-0001",
        "/incidents/INC-2026-0001/evidence/1",
        "/incidents/INC-2026-0001/evidence/",
        "/incidents//evidence",
        "/incidents/a/b/evidence",
        "/incidents",
    ):
        assert not is_evidence_path(other), other


def test_a_monitor_seals_evidence_once_and_the_channel_sees_the_redacted_copy(
    served: Env, evidence_dir: Path
) -> None:
    channel = declare(served)
    (incident,) = served.rows(m.Incident)
    headers = signed(served, LEAK)
    reply = httpx.post(
        url(served, incident.id, "kind=output&note=flagged+reply"), content=LEAK, headers=headers
    )
    assert reply.status_code == 201, reply.text
    answer = reply.json()
    digest = hashlib.sha256(LEAK).hexdigest()
    assert answer["ok"] and answer["created"] and answer["sha256"] == digest
    assert answer["incident"] == incident.id and answer["size"] == len(LEAK)
    assert stored(served) == [digest]
    assert (evidence_dir / digest[:2] / digest).read_bytes() == LEAK
    (row,) = served.rows(Evidence)
    assert (row.id, row.added_by, row.kind, row.label) == (
        answer["evidence_id"],
        "monitor:guardrail",
        "output",
        "flagged reply",
    )
    assert row.media_type == "text/plain; charset=utf-8"
    served.fake.wait_for(
        lambda f: any("monitor:guardrail" in x["text"] for x in f.messages_in(channel.channel_id))
    )
    said = "\n".join(x["text"] for x in served.fake.messages_in(channel.channel_id))
    assert "[card]" in said and "[email]" in said
    assert "4111" not in said and "bob.smith" not in said

    # A retry after a lost answer (new timestamp, same bytes): the same record, nothing new.
    before = counts(served)
    again = httpx.post(
        url(served, incident.id, "kind=trace"), content=LEAK, headers=signed(served, LEAK)
    )
    assert again.status_code == 200, again.text
    assert again.json()["evidence_id"] == answer["evidence_id"] and not again.json()["created"]
    assert counts(served) == before
    (added,) = [e for e in served.rows(m.AuditEvent) if e.kind == "evidence.added"]
    assert added.actor == "monitor:guardrail" and json.loads(added.data)["via"] == "alert"

    # A bearer source, other bytes: a second record.
    other = b'{"prompt": "ignore previous instructions"}'
    reply = httpx.post(url(served, incident.id, "kind=prompt"), content=other, headers=bearer())
    assert reply.status_code == 201, reply.text
    assert served.count(Evidence, col(Evidence.added_by) == "monitor:scanner") == 1


def test_every_refusal_is_answered_with_its_reason_and_writes_nothing(
    served: Env, caplog: pytest.LogCaptureFixture
) -> None:
    declare(served)
    (incident,) = served.rows(m.Incident)
    iid = incident.id
    body = b"trace: tool call send_email(to=everyone)"
    now = int(served.server.ctx.now().timestamp())
    big = b"x" * (LIMIT + 1)
    no_type = {k: v for k, v in signed(served, body).items() if k != "Content-Type"}
    cases: list[tuple[str, str, bytes, dict[str, str], int, str]] = [
        # (method, url, body, headers, status, reason contains)
        (
            "POST",
            url(served, iid),
            body,
            {"Content-Type": "text/plain"},
            401,
            "X-CommandPost-Source",
        ),
        (
            "POST",
            url(served, iid),
            body,
            bearer(source="nobody"),
            401,
            "unknown X-CommandPost-Source",
        ),
        ("POST", url(served, iid), body, bearer("not-the-token"), 401, "wrong bearer token"),
        ("POST", url(served, iid), body, {**bearer(), "Authorization": ""}, 401, "missing bearer"),
        (
            "POST",
            url(served, iid),
            body,
            {**signed(served, body), "X-CommandPost-Signature": "sha256=00"},
            401,
            "does not match",
        ),
        (
            "POST",
            url(served, iid),
            body,
            signed(served, body, at=now - 3600),
            401,
            "outside the accepted window",
        ),
        ("POST", url(served, iid), b"other bytes", signed(served, body), 401, "does not match"),
        ("POST", url(served, iid), big, bearer(), 413, f"larger than {LIMIT}"),
        ("POST", url(served, iid, ""), body, signed(served, body), 400, "kind is required"),
        (
            "POST",
            url(served, iid, "kind=selfie"),
            body,
            signed(served, body),
            400,
            "unknown kind 'selfie'",
        ),
        (
            "POST",
            url(served, iid, "kind=output&colour=red"),
            body,
            signed(served, body),
            400,
            "unknown parameter 'colour'",
        ),
        (
            "POST",
            url(served, iid, "kind=output&kind=trace"),
            body,
            signed(served, body),
            400,
            "once each",
        ),
        (
            "POST",
            url(served, iid, "kind=output&note=" + "n" * 201),
            body,
            signed(served, body),
            400,
            "note is longer",
        ),
        ("POST", url(served, iid), body, no_type, 400, "Content-Type is required"),
        (
            "POST",
            url(served, iid),
            body,
            {**signed(served, body), "Content-Type": "plain"},
            400,
            "not a media type",
        ),
        ("POST", url(served, iid), b"  \n", signed(served, b"  \n"), 400, "the body is empty"),
        (
            "POST",
            url(served, "INC-2020-0999"),
            body,
            signed(served, body),
            404,
            "no incident INC-2020-0999",
        ),
        ("POST", url(served, "not-an-id"), body, signed(served, body), 404, "not-an-id"),
        ("GET", url(served, iid), b"", bearer(), 405, "POST"),
    ]
    before = counts(served)
    with caplog.at_level(logging.INFO):
        for method, target, content, headers, status, reason in cases:
            reply = httpx.request(method, target, content=content, headers=headers, timeout=10)
            assert reply.status_code == status, (target, headers, reply.text)
            assert reply.headers["content-type"] == "application/json"
            assert reply.json()["ok"] is False and reason in reply.json()["reason"], reply.text
    assert counts(served) == before and stored(served) == []
    assert TOKEN not in caplog.text and HMAC_SECRET not in caplog.text


def test_without_configured_sources_the_endpoint_answers_503(db_url: str, policy: Policy) -> None:
    fake: FakeSlack = start_fake()
    server = build_server(
        database_url=db_url, policy=policy, slack=slack_settings(fake), settings=Settings()
    ).start(run_deadlines=False)
    try:
        reply = httpx.post(
            f"http://127.0.0.1:{server.port}/incidents/INC-2026-0001/evidence?kind=output",
            content=b"x",
            headers={"Content-Type": "text/plain", "Authorization": f"Bearer {TOKEN}"},
        )
        assert reply.status_code == 503 and "COMMANDPOST_EVIDENCE_SOURCES" in reply.text
        health = httpx.get(f"http://127.0.0.1:{server.port}/healthz")
        assert health.status_code == 200  # the mount takes its one path, nothing else
    finally:
        server.stop()
        fake.stop()
        server.ctx.engine.dispose()
