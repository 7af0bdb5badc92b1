"""Signed approval links and the approval page, over real HTTP, on both database lanes.

Valid approve and reject; expired, forged, tampered, reused, wrong-approver and
changed-payload links; a missing CSRF value; a double submit deciding once. Every refusal
writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlmodel import Session, select

from commandpost.chat.teams.approvals import LinkRefused, LinkSigner
from commandpost.core.vocabulary import IncidentClass
from commandpost.service.context import Context
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m

from .support import START, contain, counts, declare_incident, gate_row, staff
from .teamsupport import (
    LINK_SECRET,
    assert_csrf_checked,
    csrf_of,
    open_page,
    refused,
    serve_teams,
    settings,
    submit_page,
)

PAGE = "/teams/approve"
TABLES = ("gate_decisions", "audit_events", "outbox", "teams_link_uses")
HASH = "ab" * 32


# -- tokens, no database ---------------------------------------------------------------------
def issue(signer: LinkSigner, **over: object) -> str:
    values: dict[str, object] = {
        "incident_id": "INC-2026-0001",
        "gate_id": 1,
        "person_id": "erin",
        "payload_hash": HASH,
        "now": START,
    }
    values.update(over)
    return signer.issue(**values)  # type: ignore[arg-type]


def test_token_round_trip_and_expiry() -> None:
    signer = LinkSigner(LINK_SECRET)
    claims = signer.read(issue(signer), now=START + timedelta(minutes=14))
    assert (claims.gate_id, claims.person_id, claims.payload_hash) == (1, "erin", HASH)
    assert claims.expires_at == START + timedelta(minutes=15)
    with pytest.raises(LinkRefused) as refused:
        signer.read(issue(signer), now=START + timedelta(minutes=15))
    assert refused.value.why == "expired"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: t.replace(t.split(".")[0], t.split(".")[0][:-3] + "xyz"),  # claims changed
        lambda t: LinkSigner("another-secret-0123456789").issue(
            incident_id="INC-2026-0001", gate_id=1, person_id="erin", payload_hash=HASH, now=START
        ),
        lambda t: "",
        lambda t: "not.a.token",
        lambda t: t.split(".")[0],
    ],
)
def test_forged_or_tampered_tokens_are_refused(mangle: object) -> None:
    signer = LinkSigner(LINK_SECRET)
    with pytest.raises(LinkRefused) as refused:
        signer.read(mangle(issue(signer)), now=START)  # type: ignore[operator]
    assert refused.value.why in {"forged", "malformed"}


def test_short_secrets_are_refused() -> None:
    with pytest.raises(Exception, match="at least"):
        LinkSigner("short")


# -- the page over HTTP -------------------------------------------------------------------------
@pytest.fixture
def pending(ctx: Context) -> tuple[Context, int]:
    incident = declare_incident(ctx, "Chat model leaks prompts", IncidentClass.DATA_LEAKAGE)
    staff(ctx, incident)
    return ctx, contain(ctx, incident)


@pytest.fixture
def base(pending: tuple[Context, int]) -> Iterator[str]:
    with serve_teams(pending[0], settings()) as url:
        yield url


def link(
    ctx: Context, gate_id: int, person: str = "erin", *, as_gate: int | None = None, **over: object
) -> str:
    gate = gate_row(ctx, gate_id)
    values: dict[str, object] = {
        "incident_id": gate.incident_id,
        "gate_id": gate_id if as_gate is None else as_gate,
        "person_id": person,
        "payload_hash": gate.payload_hash,
        "now": ctx.now(),
    }
    values.update(over)
    return LinkSigner(LINK_SECRET).issue(**values)  # type: ignore[arg-type]


def open_form(client: httpx.Client, base: str, token: str) -> httpx.Response:
    return open_page(client, base + PAGE, token)


def submit(
    client: httpx.Client, base: str, token: str, csrf: str, decision: str, reason: str = ""
) -> httpx.Response:
    return submit_page(
        client, base + PAGE, token=token, csrf=csrf, decision=decision, reason=reason
    )


def test_approve_through_the_page(pending: tuple[Context, int], base: str) -> None:
    ctx, gate_id = pending
    token = link(ctx, gate_id)
    with httpx.Client() as client:
        page = open_form(client, base, token)
        assert page.status_code == 200
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "rollback_model" in page.text and "Carol Diaz" in page.text
        assert "No decisions yet" in page.text
        done = submit(client, base, token, csrf_of(page), "approve")
    assert done.status_code == 200, done.text
    assert 'data-state="approved"' in done.text
    assert gate_row(ctx, gate_id).state == "approved"


def test_reject_needs_a_reason_then_records_it(pending: tuple[Context, int], base: str) -> None:
    ctx, gate_id = pending
    token = link(ctx, gate_id)
    with httpx.Client() as client:
        csrf = csrf_of(open_form(client, base, token))
        before = counts(ctx, TABLES)
        again = submit(client, base, token, csrf, "reject")
        assert again.status_code == 400 and "needs a reason" in again.text
        assert counts(ctx, TABLES) == before
        done = submit(client, base, token, csrf_of(again), "reject", "wrong model version")
    assert done.status_code == 200
    assert gate_row(ctx, gate_id).state == "rejected"


def test_expired_forged_and_unknown_links_are_refused(
    pending: tuple[Context, int], base: str
) -> None:
    ctx, gate_id = pending
    before = counts(ctx, TABLES)
    with httpx.Client() as client:
        old = link(ctx, gate_id, now=ctx.now() - timedelta(minutes=16))
        response = open_form(client, base, old)
        assert response.status_code == 410
        refused(response, "expired")
        forged = link(ctx, gate_id)[:-4] + "AAAA"
        refused(open_form(client, base, forged), "forged")
        refused(open_form(client, base, link(ctx, gate_id, as_gate=9999)), "unknown")
        refused(open_form(client, base, link(ctx, gate_id, person="nobody")), "unknown")
    assert counts(ctx, TABLES) == before


def test_wrong_approver_is_refused_and_link_stays_usable(
    pending: tuple[Context, int], base: str
) -> None:
    ctx, gate_id = pending
    # Carol asked for the gate: the page shows it, the service refuses her approval.
    token = link(ctx, gate_id, person="carol")
    before = counts(ctx, TABLES)
    with httpx.Client() as client:
        response = submit(client, base, token, csrf_of(open_form(client, base, token)), "approve")
    assert response.status_code == 403
    refused(response, "not_allowed")
    assert "someone else must approve" in response.text
    assert counts(ctx, TABLES) == before
    assert gate_row(ctx, gate_id).state == "pending"


def test_changed_payload_is_refused(pending: tuple[Context, int], base: str) -> None:
    ctx, gate_id = pending
    token = link(ctx, gate_id)
    with httpx.Client() as client:
        csrf = csrf_of(open_form(client, base, token))
        with Session(ctx.engine) as session:
            gate = session.get(m.Gate, gate_id)
            assert gate is not None
            gate.payload_hash = "cd" * 32
            session.add(gate)
            session.commit()
        before = counts(ctx, TABLES)
        response = submit(client, base, token, csrf, "approve")
    assert response.status_code == 409
    refused(response, "changed")
    assert counts(ctx, TABLES) == before


def test_missing_or_wrong_csrf_is_refused(pending: tuple[Context, int], base: str) -> None:
    ctx, gate_id = pending
    assert_csrf_checked(ctx, url=base + PAGE, token=link(ctx, gate_id), tables=TABLES)


def test_reused_link_and_double_submit_decide_once(
    pending: tuple[Context, int], base: str, clock: ManualClock
) -> None:
    ctx, gate_id = pending
    token = link(ctx, gate_id, person="alice")  # alice: incident commander, a deciding role
    with httpx.Client() as client:
        csrf = csrf_of(open_form(client, base, token))
        first = submit(client, base, token, csrf, "approve")
        second = submit(client, base, token, csrf, "approve")
        third = open_form(client, base, token)
    assert first.status_code == 200
    assert second.status_code == 410
    refused(second, "used")
    refused(third, "used")
    with Session(ctx.engine) as session:
        decisions = session.exec(
            select(m.GateDecision).where(m.GateDecision.gate_id == gate_id)
        ).all()
        executions = [o for o in session.exec(select(m.OutboxItem)) if o.kind == "execute"]
    assert len(decisions) == 1 and len(executions) == 1


def test_escalate_through_the_page(pending: tuple[Context, int], base: str) -> None:
    ctx, gate_id = pending
    token = link(ctx, gate_id)
    with httpx.Client() as client:
        done = submit(client, base, token, csrf_of(open_form(client, base, token)), "escalate")
    assert done.status_code == 200
    assert gate_row(ctx, gate_id).tier == 1


def test_unconfigured_and_unknown_paths(pending: tuple[Context, int]) -> None:
    ctx, _ = pending
    bare = settings(teams_link_secret=None, teams_outgoing_token=None)
    with serve_teams(ctx, bare) as url, httpx.Client() as client:
        assert client.get(f"{url}/teams/approve").status_code == 503
        assert client.post(f"{url}/teams/command", content=b"{}").status_code == 503
        assert client.get(f"{url}/teams/other").status_code == 404


def test_link_query_preselects_only(pending: tuple[Context, int], base: str) -> None:
    ctx, gate_id = pending
    url = f"{base}/teams/approve?token={link(ctx, gate_id)}&d=reject"
    assert parse_qs(urlparse(url).query)["d"] == ["reject"]
    with httpx.Client() as client:
        page = client.get(url)
    assert 'value="reject" checked' in page.text
    assert gate_row(ctx, gate_id).state == "pending"
