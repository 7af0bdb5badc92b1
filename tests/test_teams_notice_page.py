"""The Teams notice review page over real HTTP, on both database lanes.

Approve; approve with a blocking finding needs an override reason; reject needs a reason;
a link for an older text, a wrong reviewer, a reused, forged, expired or gate link, and a
missing CSRF value are refused and write nothing; comms and legal approving through the
page queue the deliveries, which the outbox sends exactly as approved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session, select

from commandpost.chat.teams import notice_links
from commandpost.chat.teams.approvals import LinkSigner
from commandpost.core.vocabulary import Role
from commandpost.service import notices, roles
from commandpost.service.context import Context
from commandpost.storage import models as m
from commandpost.storage.notice_models import Notice, NoticeApproval

from .noticesupport import NEXT_STEPS, review_incident
from .support import counts
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

PAGE = "/teams/notice"
TABLES = ("notice_approvals", "audit_events", "outbox", "teams_notice_link_uses")
MINIMISING = "Only a small number of users saw this, and it was a minor issue."


@pytest.fixture
def drafted(ctx: Context) -> tuple[Context, int]:
    incident = review_incident(ctx)
    made = notices.draft(
        ctx, incident, template="customer_initial", actor="grace", facts={"next_steps": NEXT_STEPS}
    )
    assert made.findings == ()
    return ctx, made.id


@pytest.fixture
def base(drafted: tuple[Context, int]) -> Iterator[str]:
    with serve_teams(drafted[0], settings()) as url:
        yield url


def notice(ctx: Context, notice_id: int) -> Notice:
    with Session(ctx.engine) as session:
        row = session.get(Notice, notice_id)
        assert row is not None
        return row


def link(
    ctx: Context, notice_id: int, person: str = "grace", *, as_notice: int = 0, **over: object
) -> str:
    row = notice(ctx, notice_id)
    values: dict[str, object] = {
        "incident_id": row.incident_id,
        "notice_id": as_notice or notice_id,
        "person_id": person,
        "text_hash": row.sha256,
        "now": ctx.now(),
    }
    values.update(over)
    return notice_links.issue(LinkSigner(LINK_SECRET), **values)  # type: ignore[arg-type]


def open_form(client: httpx.Client, base: str, token: str, d: str = "approve") -> httpx.Response:
    return open_page(client, base + PAGE, token, d)


def submit(
    client: httpx.Client, base: str, token: str, csrf: str, decision: str, reason: str = ""
) -> httpx.Response:
    return submit_page(
        client, base + PAGE, token=token, csrf=csrf, decision=decision, reason=reason
    )


def approvals(ctx: Context) -> list[NoticeApproval]:
    with Session(ctx.engine) as session:
        return list(session.exec(select(NoticeApproval)))


def test_page_shows_the_exact_text_and_approve_records_it(
    drafted: tuple[Context, int], base: str
) -> None:
    ctx, notice_id = drafted
    row = notice(ctx, notice_id)
    token = link(ctx, notice_id)
    with httpx.Client() as client:
        page = open_form(client, base, token)
        assert page.status_code == 200
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        shown = re.search(r'<pre id="notice-text"[^>]*>\n(.*?)</pre>', page.text, re.S)
        assert shown is not None
        text = shown.group(1).replace("&#39;", "'").replace("&#34;", '"').replace("&quot;", '"')
        text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        assert text == row.text
        assert row.sha256 in page.text and "No approvals yet" in page.text
        assert "Comms and Legal" in page.text  # SEV1: legal co-approves
        done = submit(client, base, token, csrf_of(page), "approve")
    assert done.status_code == 200, done.text
    assert 'data-state="draft"' in done.text and "still needed: Legal" in done.text
    (approval,) = approvals(ctx)
    assert (approval.person_id, approval.role, approval.sha256) == ("grace", "comms", row.sha256)
    with Session(ctx.engine) as session:
        event = session.exec(
            select(m.AuditEvent).where(m.AuditEvent.kind == "notice.approved")
        ).one()
    assert json.loads(event.data)["via"] == "teams"  # the audit trail names the platform


def test_blocking_finding_needs_an_override_reason(drafted: tuple[Context, int], base: str) -> None:
    ctx, notice_id = drafted
    text = notice(ctx, notice_id).text.replace(
        "Who is affected\n", f"Who is affected\n{MINIMISING}\n"
    )
    notices.edit(ctx, notice_id, actor="grace", text=text)
    token = link(ctx, notice_id)
    with httpx.Client() as client:
        page = open_form(client, base, token)
        assert 'class="blocking"' in page.text and "minimising" in page.text
        assert "small number of" in page.text
        before = counts(ctx, TABLES)
        again = submit(client, base, token, csrf_of(page), "approve")
        assert again.status_code == 400 and "override reason" in again.text
        assert counts(ctx, TABLES) == before
        reason = "Legal confirmed the count; wording agreed with the DPO"
        done = submit(client, base, token, csrf_of(again), "approve", reason)
    assert done.status_code == 200, done.text
    (approval,) = approvals(ctx)
    assert approval.override_reason == reason and approval.role == "comms"


def test_reject_needs_a_reason(drafted: tuple[Context, int], base: str) -> None:
    ctx, notice_id = drafted
    token = link(ctx, notice_id, "alice")  # the incident commander may reject
    with httpx.Client() as client:
        csrf = csrf_of(open_form(client, base, token, "reject"))
        before = counts(ctx, TABLES)
        again = submit(client, base, token, csrf, "reject")
        assert again.status_code == 400 and "needs a reason" in again.text
        assert counts(ctx, TABLES) == before and notice(ctx, notice_id).state == "draft"
        done = submit(client, base, token, csrf_of(again), "reject", "Wrong audience")
    assert done.status_code == 200 and 'data-state="rejected"' in done.text
    row = notice(ctx, notice_id)
    assert (row.state, row.reason) == ("rejected", "Wrong audience")


def test_link_for_an_older_text_is_refused(drafted: tuple[Context, int], base: str) -> None:
    ctx, notice_id = drafted
    token = link(ctx, notice_id)
    with httpx.Client() as client:
        csrf = csrf_of(open_form(client, base, token))
        edited = notice(ctx, notice_id).text + "\nOne more line.\n"
        notices.edit(ctx, notice_id, actor="grace", text=edited)
        before = counts(ctx, TABLES)
        posted = submit(client, base, token, csrf, "approve")
        assert posted.status_code == 409
        refused(posted, "changed")
        refused(open_form(client, base, token), "changed")
    assert counts(ctx, TABLES) == before and approvals(ctx) == []


def test_wrong_reviewers_are_refused_and_write_nothing(
    drafted: tuple[Context, int], base: str
) -> None:
    ctx, notice_id = drafted
    incident = notice(ctx, notice_id).incident_id
    before = counts(ctx, TABLES)
    with httpx.Client() as client:
        # Dan holds no role in the incident: the service refuses, the link stays unspent.
        dan = link(ctx, notice_id, "dan")
        response = submit(client, base, dan, csrf_of(open_form(client, base, dan)), "approve")
        assert response.status_code == 403
        refused(response, "not_allowed")
        assert "cannot approve" in response.text
        # Alice commands the incident but is neither comms nor legal.
        alice = link(ctx, notice_id, "alice")
        refused(submit(client, base, alice, csrf_of(open_form(client, base, alice)), "approve"),
                "not_allowed")  # fmt: skip
        # Someone not in the policy at all.
        refused(open_form(client, base, link(ctx, notice_id, "nobody")), "unknown")
    assert counts(ctx, TABLES) == before

    # Grace also takes legal: having approved as comms she cannot approve again as legal.
    roles.assign(ctx, incident, role=Role.LEGAL, person_id="grace", actor="alice")
    roles.acknowledge(ctx, incident, person_id="grace")
    with httpx.Client() as client:
        first = link(ctx, notice_id)
        assert submit(client, base, first, csrf_of(open_form(client, base, first)), "approve")
        assert [a.role for a in approvals(ctx)] == ["comms"]
        second = link(ctx, notice_id)
        before = counts(ctx, TABLES)
        response = submit(client, base, second, csrf_of(open_form(client, base, second)), "approve")
    refused(response, "not_allowed")
    assert "cannot approve as both comms and legal" in response.text
    assert counts(ctx, TABLES) == before and notice(ctx, notice_id).state == "draft"


def test_reused_forged_expired_and_gate_links_are_refused(
    drafted: tuple[Context, int], base: str
) -> None:
    ctx, notice_id = drafted
    token = link(ctx, notice_id)
    with httpx.Client() as client:
        csrf = csrf_of(open_form(client, base, token))
        assert submit(client, base, token, csrf, "approve").status_code == 200
        before = counts(ctx, TABLES)
        again = submit(client, base, token, csrf, "approve")
        assert again.status_code == 410
        refused(again, "used")
        refused(open_form(client, base, token), "used")
        refused(open_form(client, base, link(ctx, notice_id, "ivan")[:-4] + "AAAA"), "forged")
        old = link(ctx, notice_id, "ivan", now=ctx.now() - timedelta(minutes=16))
        assert open_form(client, base, old).status_code == 410
        refused(open_form(client, base, old), "expired")
        refused(open_form(client, base, link(ctx, notice_id, as_notice=9999)), "unknown")
        # A gate link signed with the same secret is not a notice link, and the reverse.
        gate = LinkSigner(LINK_SECRET).issue(
            incident_id=notice(ctx, notice_id).incident_id,
            gate_id=notice_id,
            person_id="ivan",
            payload_hash=notice(ctx, notice_id).sha256,
            now=ctx.now(),
        )
        refused(open_form(client, base, gate), "wrong_kind")
        as_gate = client.get(
            f"{base}/teams/approve", params={"token": link(ctx, notice_id, "ivan")}
        )
        refused(as_gate, "wrong_kind")
    assert counts(ctx, TABLES) == before


def test_missing_or_wrong_csrf_is_refused(drafted: tuple[Context, int], base: str) -> None:
    ctx, notice_id = drafted
    assert_csrf_checked(ctx, url=base + PAGE, token=link(ctx, notice_id), tables=TABLES)
