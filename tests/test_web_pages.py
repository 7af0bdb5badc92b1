"""The incident pages over real HTTP (waitress on port 0), on SQLite and PostgreSQL: who gets
in (signed links, session cookies, a proxy header), what they see, and what they cannot do."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr
from waitress.server import create_server

from commandpost.core.gates import Decision
from commandpost.core.policy import Policy
from commandpost.core.vocabulary import IncidentClass, Role, Severity
from commandpost.errors import InvalidInput, NotAuthorised, NotFound
from commandpost.service import gates, incident_changes, notices, outbox, roles
from commandpost.service.context import Context
from commandpost.service.ports import ManualClock
from commandpost.settings import Settings
from commandpost.web import incident_pages_app, is_web_path
from commandpost.web.auth import ViewerSigner
from commandpost.web.links import viewer_link

from .conftest import MakeCtx
from .noticesupport import NEXT_STEPS, with_channels
from .support import RecordingExecutor, contain, counts, declare_incident, staff

SECRET = "web-secret-for-tests-0123456789"
HOSTILE = 'Bot says <script>alert("x")</script> & worse'
AUDIT_TABLES = (*("incidents", "gates", "gate_decisions", "audit_events", "outbox"),)


# -- seeding and serving (the browser test uses these too) -------------------------------------


@dataclass
class Seeded:
    ctx: Context
    resolved: str  # acknowledged, contained, notified and resolved, with a gate and a notice
    hostile: str  # still open, with a title that would be markup if it were not escaped
    gate_id: int
    notice_sha256: str


def seed(make_ctx: MakeCtx, policy: Policy, clock: ManualClock) -> Seeded:
    """Two incidents through the service layer, on the test's simulated clock."""
    channels = {"customer_initial": [{"type": "chat", "channel": "incident"}]}
    ctx = make_ctx(RecordingExecutor(), use_policy=with_channels(policy, channels))
    resolved = declare_incident(
        ctx,
        "Assistant shows other users' order history",
        IncidentClass.DATA_LEAKAGE,
        Severity.SEV1,
        model="chat-large",
        model_version="2026-03-01",
        surface="chat-web",
        region="eu-west",
    )
    clock.advance(timedelta(minutes=4))
    staff(ctx, resolved)
    roles.assign(ctx, resolved, role=Role.LEGAL, person_id="ivan", actor="alice")
    staff(ctx, resolved, "ivan")
    clock.advance(timedelta(minutes=6))
    gate_id = contain(ctx, resolved)
    clock.advance(timedelta(minutes=3))
    gates.decide(ctx, gate_id, actor="alice", decision=Decision.APPROVE)
    outbox.deliver(ctx)  # the rollback runs: contained
    clock.advance(timedelta(minutes=25))
    made = notices.draft(
        ctx, resolved, template="customer_initial", actor="grace", facts={"next_steps": NEXT_STEPS}
    )
    notices.approve(ctx, made.id, actor="grace")
    notices.approve(ctx, made.id, actor="ivan", role="legal")
    outbox.deliver(ctx)  # the notice goes to the incident channel
    clock.advance(timedelta(hours=3))
    incident_changes.resolve(ctx, resolved, actor="alice", summary="Rolled back; caches purged.")
    clock.advance(timedelta(minutes=10))
    hostile = declare_incident(ctx, HOSTILE, IncidentClass.HARMFUL_CONTENT, Severity.SEV2)
    clock.advance(timedelta(minutes=20))
    return Seeded(ctx, resolved, hostile, gate_id, notices.get(ctx, made.id).sha256)


def web_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"web_secret": SecretStr(SECRET)}
    values.update(overrides)
    return Settings(**values)


@contextmanager
def serving(ctx: Context, settings: Settings) -> Iterator[str]:
    """The pages' WSGI app on waitress at 127.0.0.1:<free port>; yields the base URL."""
    server = create_server(incident_pages_app(ctx, settings), host="127.0.0.1", port=0, threads=4)
    stopping = threading.Event()

    def run() -> None:
        try:
            server.run()
        except OSError:
            # close() pulls the socket out from under waitress's select loop.
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        # One listening socket (a single host), so waitress hands back a single-port server.
        yield f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
    finally:
        stopping.set()
        server.close()
        thread.join(timeout=5)


def link_for(ctx: Context, base: str, person: str = "alice", **overrides: Any) -> str:
    settings = web_settings(web_public_url=base, **overrides)
    return viewer_link(settings=settings, policy=ctx.policy, person_id=person, now=ctx.now())


def signed_in(base: str, link: str) -> httpx.Client:
    """A client holding the session cookie the link was exchanged for."""
    client = httpx.Client(base_url=base, timeout=10)
    answer = client.get(link)
    assert answer.status_code == 200, answer.text
    return client


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def seeded(make_ctx: MakeCtx, policy: Policy, clock: ManualClock) -> Seeded:
    return seed(make_ctx, policy, clock)


@pytest.fixture
def base(seeded: Seeded) -> Iterator[str]:
    with serving(seeded.ctx, web_settings()) as url:
        yield url


def _assert_security_headers(answer: httpx.Response) -> None:
    csp = answer.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"


# -- who gets in -------------------------------------------------------------------------------


def test_without_a_session_every_page_is_a_401_that_names_nothing(
    seeded: Seeded, base: str
) -> None:
    pages = [
        "/incidents",
        "/incidents/",
        f"/incidents/{seeded.resolved}",
        "/incidents/INC-2099-0001",
    ]
    bodies = set()
    for path in pages:
        answer = httpx.get(base + path, timeout=10)
        assert answer.status_code == 401, path
        _assert_security_headers(answer)
        assert "set-cookie" not in answer.headers
        for secret in (seeded.resolved, seeded.hostile, "order history", "Alice", "INC-"):
            assert secret not in answer.text
        bodies.add(answer.text)
    # An incident that exists and one that does not get the very same page.
    assert len(bodies) == 1
    assert "viewer link" in bodies.pop()


def test_forged_tampered_expired_or_misused_tokens_are_refused(
    seeded: Seeded, base: str, clock: ManualClock
) -> None:
    good = link_for(seeded.ctx, base)
    token = parse_qs(urlsplit(good).query)["token"][0]
    claims, signature = token.split(".")
    other = ViewerSigner("another-secret-0123456789abcdef")
    session = ViewerSigner(SECRET).issue(
        person_id="alice", purpose="session", now=clock.now(), ttl=timedelta(hours=1)
    )
    bad = {
        "no token": "",
        "garbage": "not-a-token",
        "tampered claims": claims[:-2] + ("AA" if claims[-2:] != "AA" else "BB") + "." + signature,
        "another key": other.issue(
            person_id="alice", purpose="link", now=clock.now(), ttl=timedelta(hours=1)
        ),
        "a session token used as a link": session,
    }
    for why, value in bad.items():
        answer = httpx.get(f"{base}/incidents/session", params={"token": value}, timeout=10)
        assert answer.status_code == 401, why
        assert "set-cookie" not in answer.headers, why
    # A link used as the session cookie is refused too: the purpose is signed.
    cookie = {"cp_web_session": token}
    assert httpx.get(f"{base}/incidents", cookies=cookie, timeout=10).status_code == 401

    clock.advance(timedelta(seconds=901))  # the default link lifetime is 15 minutes
    expired = httpx.get(good, timeout=10)
    assert expired.status_code == 401 and "set-cookie" not in expired.headers


def test_a_session_ends_when_it_expires(seeded: Seeded, base: str, clock: ManualClock) -> None:
    client = signed_in(base, link_for(seeded.ctx, base))
    assert client.get("/incidents").status_code == 200
    clock.advance(timedelta(hours=8, seconds=1))
    assert client.get("/incidents").status_code == 401
    client.close()


def test_the_link_sets_a_strict_http_only_cookie_scoped_to_the_pages(
    seeded: Seeded, base: str
) -> None:
    answer = httpx.get(link_for(seeded.ctx, base), timeout=10)
    assert answer.status_code == 200
    _assert_security_headers(answer)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("cp_web_session=")
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/incidents", "Max-Age=28800"):
        assert flag in cookie
    assert "Secure" not in cookie  # the public URL is http here; https adds it
    assert "Signed in as Alice Ng (alice)" in answer.text
    assert 'http-equiv="refresh"' in answer.text


def test_only_people_the_settings_name_may_view(
    seeded: Seeded, base: str, clock: ManualClock
) -> None:
    viewers = {"web_viewers": ["legal", "duty_director", "kai"]}
    with serving(seeded.ctx, web_settings(**viewers)) as narrow:
        # ivan is in legal's rotation, mo in the duty_director group, kai named himself.
        for person in ("ivan", "mo", "kai"):
            client = signed_in(narrow, link_for(seeded.ctx, narrow, person, **viewers))
            assert client.get("/incidents").status_code == 200, person
            client.close()
        with pytest.raises(NotAuthorised):
            link_for(seeded.ctx, narrow, "alice", **viewers)
        # A link signed for her anyway (the setting changed since) does not get her in.
        token = ViewerSigner(SECRET).issue(
            person_id="alice", purpose="link", now=clock.now(), ttl=timedelta(minutes=5)
        )
        refused = httpx.get(f"{narrow}/incidents/session", params={"token": token}, timeout=10)
        assert refused.status_code == 403 and "set-cookie" not in refused.headers
        # Nor does a session she already had.
        session = ViewerSigner(SECRET).issue(
            person_id="alice", purpose="session", now=clock.now(), ttl=timedelta(hours=1)
        )
        cookies = {"cp_web_session": session}
        assert httpx.get(f"{narrow}/incidents", cookies=cookies, timeout=10).status_code == 403
    with pytest.raises(NotFound):
        link_for(seeded.ctx, base, "mallory")


def test_a_trusted_proxy_header_is_honoured_only_when_configured(seeded: Seeded, base: str) -> None:
    header = {"X-Forwarded-User": "grace@example.com"}
    assert httpx.get(f"{base}/incidents", headers=header, timeout=10).status_code == 401
    proxied = web_settings(web_secret=None, web_trusted_header="X-Forwarded-User")
    with serving(seeded.ctx, proxied) as url:
        answer = httpx.get(f"{url}/incidents", headers=header, timeout=10)
        assert answer.status_code == 200 and "Grace Liu (grace)" in answer.text
        unknown = {"X-Forwarded-User": "mallory@example.com"}
        assert httpx.get(f"{url}/incidents", headers=unknown, timeout=10).status_code == 401
        assert httpx.get(f"{url}/incidents", timeout=10).status_code == 401


def test_without_a_secret_or_header_the_pages_say_they_are_not_configured(
    seeded: Seeded,
) -> None:
    with serving(seeded.ctx, web_settings(web_secret=None)) as url:
        answer = httpx.get(f"{url}/incidents", timeout=10)
    assert answer.status_code == 503 and "COMMANDPOST_WEB_SECRET" in answer.text
    with pytest.raises(InvalidInput, match="COMMANDPOST_WEB_SECRET"):
        viewer_link(
            settings=web_settings(web_secret=None),
            policy=seeded.ctx.policy,
            person_id="alice",
            now=seeded.ctx.now(),
        )


# -- what they see -----------------------------------------------------------------------------


def test_the_list_shows_every_incident_newest_first(seeded: Seeded, base: str) -> None:
    client = signed_in(base, link_for(seeded.ctx, base))
    answer = client.get("/incidents")
    client.close()
    assert answer.status_code == 200
    _assert_security_headers(answer)
    rows = re.findall(r'<tr data-incident="([^"]+)">(.*?)</tr>', answer.text, re.S)
    assert [incident for incident, _ in rows] == [seeded.hostile, seeded.resolved]
    resolved = _cells(rows[1][1])
    assert resolved == [
        seeded.resolved,
        "Assistant shows other users&#39; order history",
        "SEV1",
        "data leakage",
        "resolved",
        "2026-03-02 09:00:00Z",
        "Alice Ng (alice)",
    ]
    assert f'href="/incidents/{seeded.resolved}"' in answer.text


def test_the_incident_page_shows_timeline_roles_gates_notices_and_chart(
    seeded: Seeded, base: str
) -> None:
    client = signed_in(base, link_for(seeded.ctx, base))
    answer = client.get(f"/incidents/{seeded.resolved.lower()}")
    client.close()
    assert answer.status_code == 200
    _assert_security_headers(answer)
    page = answer.text
    timeline = _section(page, "timeline")
    for kind in ("incident.declared", "role.acknowledged", "gate.requested", "notice.approved"):
        assert f'<td class="kind">{kind}</td>' in timeline, kind
    assert timeline.count("<tr data-seq=") >= 10
    roles_html = _section(page, "roles")
    legal = r"legal</td><td[^>]*>Ivan Petrov \(ivan\)</td>\s*<td><span[^>]*>acknowledged"
    assert re.search(legal, roles_html)
    gates_html = _section(page, "gates")
    assert f'data-gate="{seeded.gate_id}"' in gates_html
    assert re.search(r">approve</span> by Alice Ng \(alice\) as incident commander", gates_html)
    assert "rollback_model" in gates_html and "executed" in gates_html
    notices_html = _section(page, "notices")
    assert f"sha256 {seeded.notice_sha256[:16]}" in notices_html
    assert "approved by Grace Liu (grace) as comms" in notices_html
    assert "approved by Ivan Petrov (ivan) as legal" in notices_html
    assert re.search(r"<td>chat</td><td>[^<]+</td>\s*<td><span[^>]*>delivered", notices_html)
    chart = _section(page, "milestones")
    states = re.findall(r'<g class="milestone" data-name="(\w+)" data-state="(\w+)">', chart)
    # SEV1: acknowledged after 4 minutes of 10, contained after 13 of 30; each bar is the
    # time taken as a share of its own SLA, so the one SLA line is where every bar should end.
    assert [name for name, _ in states] == ["acknowledged", "contained", "notified", "resolved"]
    assert dict(states)["acknowledged"] == "met" and dict(states)["contained"] == "met"
    assert ">4m of 10m</text>" in chart and ">13m of 30m</text>" in chart
    expected = {m.name: "breached" if m.breached else "met" for m in _milestones(seeded)}
    assert dict(states) == expected
    assert chart.count('<rect class="bar bar-') == 4
    assert chart.count('<line class="sla"') == 1


def test_markup_in_a_title_is_shown_as_text(seeded: Seeded, base: str) -> None:
    client = signed_in(base, link_for(seeded.ctx, base))
    pages = [client.get("/incidents").text, client.get(f"/incidents/{seeded.hostile}").text]
    client.close()
    for page in pages:
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; worse" in page
        assert "<script" not in page.lower()
    open_chart = _section(pages[1], "milestones")
    # Still open 20 minutes in: nothing reached, each milestone drawn as open so far.
    assert open_chart.count('data-state="pending"') + open_chart.count('data-state="overdue"') == 4


def test_only_get_and_head_are_answered_and_nothing_is_written(seeded: Seeded, base: str) -> None:
    client = signed_in(base, link_for(seeded.ctx, base))
    before = counts(seeded.ctx, AUDIT_TABLES)
    for path in ("/incidents", f"/incidents/{seeded.resolved}", "/incidents/session"):
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            answer = client.request(method, path, content=b"status=closed")
            assert answer.status_code == 405, (method, path)
            assert answer.headers["allow"] == "GET, HEAD"
    head = client.head(f"/incidents/{seeded.resolved}")
    assert head.status_code == 200 and head.content == b""
    assert "<form" not in client.get(f"/incidents/{seeded.resolved}").text
    client.close()
    assert counts(seeded.ctx, AUDIT_TABLES) == before


def test_unknown_incidents_and_pages_are_404_once_signed_in(seeded: Seeded, base: str) -> None:
    client = signed_in(base, link_for(seeded.ctx, base))
    assert client.get("/incidents/INC-2099-0001").status_code == 404
    assert client.get("/incidents/not-an-id").status_code == 404
    # The sign-in page wants a link, whatever cookie comes along.
    assert client.get("/incidents/session").status_code == 401
    client.close()


def test_the_pages_claim_no_deeper_path() -> None:
    for path in ("/incidents", "/incidents/", "/incidents/INC-2026-0001", "/incidents/session"):
        assert is_web_path(path), path
    for path in (
        "/incidents/INC-2026-0001/evidence",
        "/incidents/INC-2026-0001/evidence/",
        "/incidents//",
        "/incidentsx",
        "/slack/events",
        "/teams/approve",
    ):
        assert not is_web_path(path), path


# -- helpers -----------------------------------------------------------------------------------


def _cells(row: str) -> list[str]:
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]


def _section(page: str, section_id: str) -> str:
    found = re.search(rf'<section class="card" id="{section_id}">(.*?)</section>', page, re.S)
    assert found, section_id
    return found.group(1)


def _milestones(seeded: Seeded) -> list[Any]:
    from commandpost.service.milestones import incident_milestones

    return incident_milestones(seeded.ctx, seeded.resolved)
