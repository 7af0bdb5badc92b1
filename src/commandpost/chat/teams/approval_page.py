"""The Teams side of `commandpost serve`: one WSGI app for every path under /teams/.

    GET  /teams/approve?token=…   the gate (what would happen, who asked, the decision so
                                  far) and a form; sets a CSRF cookie
    POST /teams/approve           token + CSRF value + decision (+ reason, required to
                                  reject): decided through `service.gates.decide`
    GET, POST /teams/notice       the notice review page (`notice_page`)
    POST /teams/command           a Teams outgoing webhook (see `outgoing`)

Mount it with `is_teams_path(environ["PATH_INFO"])` in front of the other apps. A link that
is forged, tampered with, expired, spent, for a decided gate or a changed payload gets a
refusal page and writes nothing; so does a POST without the CSRF value that the page's own
GET set up. The token rides in the URL, so every page is sent with `Referrer-Policy:
no-referrer` and `Cache-Control: no-store`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment

from commandpost.chat.teams import approval_flow as flow
from commandpost.chat.teams.approvals import LinkRefused, LinkSigner
from commandpost.chat.teams.cardtext import label, when
from commandpost.chat.teams.outgoing import CommandHandler
from commandpost.core.gates import Decision
from commandpost.errors import Conflict, NotAuthorised, NotFound, UserError
from commandpost.service.context import Context
from commandpost.service.origin import acting_from
from commandpost.settings import Settings
from commandpost.templating import environment

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

PREFIX = "/teams/"
APPROVE_PATH = "/teams/approve"
COMMAND_PATH = "/teams/command"
COOKIE = "cp_teams_csrf"
MAX_FORM = 16 * 1024
_CHOICES = (
    (Decision.APPROVE.value, "Approve exactly this payload"),
    (Decision.REJECT.value, "Reject (give a reason)"),
    (Decision.ESCALATE.value, "Escalate to the next tier"),
)
_STATUS = {
    "malformed": "403 Forbidden",
    "forged": "403 Forbidden",
    "wrong_kind": "403 Forbidden",
    "csrf": "403 Forbidden",
    "not_allowed": "403 Forbidden",
    "unknown": "404 Not Found",
    "changed": "409 Conflict",
    "conflict": "409 Conflict",
    "expired": "410 Gone",
    "used": "410 Gone",
    "decided": "410 Gone",
    "unconfigured": "503 Service Unavailable",
}
_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    ),
]
# The approval page's one script (the reason is required once Reject is chosen) runs by
# nonce; the server checks the reason anyway.
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}';"
    " form-action 'self'; frame-ancestors 'none'"
)


def is_teams_path(path: str) -> bool:
    return path.startswith(PREFIX)


def _read_body(environ: dict[str, Any], limit: int) -> bytes | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length < 0 or length > limit:
        return None
    stream = environ.get("wsgi.input")
    return stream.read(length) if stream is not None and length else b""


def _cookie(environ: dict[str, Any]) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(environ.get("HTTP_COOKIE", ""))
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


class ApprovalPages:
    """The approval page's GET and POST, over one Context and one signer."""

    def __init__(self, ctx: Context, signer: LinkSigner, *, templates: Environment) -> None:
        self.ctx = ctx
        self.signer = signer
        self.templates = templates

    def _html(
        self,
        start_response: StartResponse,
        status: str,
        template: str,
        *,
        cookie: str | None = None,
        **values: Any,
    ) -> list[bytes]:
        nonce = secrets.token_urlsafe(16)
        body = self.templates.get_template(template).render(nonce=nonce, **values).encode()
        headers = [
            *(h for h in _HEADERS if h[0] != "Content-Security-Policy"),
            ("Content-Security-Policy", _CSP.format(nonce=nonce)),
            ("Content-Length", str(len(body))),
        ]
        if cookie is not None:
            headers.append(
                (
                    "Set-Cookie",
                    f"{COOKIE}={cookie}; Path={APPROVE_PATH}; HttpOnly; SameSite=Strict",
                )
            )
        start_response(status, headers)
        return [body]

    def refuse(self, start_response: StartResponse, why: str, message: str) -> list[bytes]:
        # The reason is logged without the token: a link is a credential.
        log.info("teams approval link refused: %s", why)
        status = _STATUS.get(why, "403 Forbidden")
        return self._html(start_response, status, "teams/refused.html.j2", why=why, message=message)

    def get(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        query = parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=10)
        token = (query.get("token") or [""])[0]
        chosen = (query.get("d") or [""])[0]
        try:
            claims = self.signer.read(token, now=self.ctx.now())
            page = flow.load(self.ctx, claims)
        except LinkRefused as exc:
            return self.refuse(start_response, exc.why, str(exc))
        cookie = _cookie(environ) or secrets.token_urlsafe(24)
        return self._form(
            start_response, page, cookie=cookie, chosen=chosen, status="200 OK", token=token
        )

    def _form(
        self,
        start_response: StartResponse,
        page: flow.GatePage,
        *,
        cookie: str,
        chosen: str,
        status: str,
        error: str = "",
        token: str,
        reason: str = "",
    ) -> list[bytes]:
        gate = page.gate
        rule = (
            "Single approval: one person"
            if gate.approvals_required <= 1
            else f"Dual approval: {gate.approvals_required} different people in different roles"
        )
        return self._html(
            start_response,
            status,
            "teams/approve.html.j2",
            cookie=cookie,
            gate=gate,
            kind=label(gate.kind.value),
            params=[(str(k), str(v)) for k, v in gate.params.items()],
            requester=gate.requester.name if gate.requester else "unknown",
            approval_rule=rule,
            deciders=", ".join(label(r) for r in gate.deciders) or "nobody named",
            deadline=when(gate.deadline) if gate.deadline else "",
            decisions=page.decisions,
            incident_title=page.incident_title,
            approver=page.approver,
            expires=when(page.claims.expires_at),
            token=token,
            csrf=self.signer.csrf(page.claims, cookie),
            choices=_CHOICES,
            chosen=chosen,
            error=error,
            reason=reason,
            action=APPROVE_PATH,
        )

    def post(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        raw = _read_body(environ, MAX_FORM)
        if raw is None:
            return self.refuse(start_response, "malformed", "The form was too large or unreadable.")
        form = parse_qs(raw.decode("utf-8", "replace"), max_num_fields=10)
        token = (form.get("token") or [""])[0]
        csrf = (form.get("csrf") or [""])[0]
        chosen = (form.get("decision") or [""])[0]
        reason = (form.get("reason") or [""])[0].strip()[:2000]
        try:
            claims = self.signer.read(token, now=self.ctx.now())
            page = flow.load(self.ctx, claims)
        except LinkRefused as exc:
            return self.refuse(start_response, exc.why, str(exc))
        cookie = _cookie(environ)
        if (
            not cookie
            or not csrf
            or not secrets.compare_digest(csrf, self.signer.csrf(claims, cookie))
        ):
            return self.refuse(
                start_response,
                "csrf",
                "This form did not come from the approval page you opened (its CSRF check"
                " failed). Open the link again and submit from there.",
            )

        def again(error: str) -> list[bytes]:
            return self._form(
                start_response,
                page,
                cookie=cookie,
                chosen=chosen,
                status="400 Bad Request",
                error=error,
                reason=reason,
                token=token,
            )

        try:
            decision = Decision(chosen)
        except ValueError:
            return again("Choose Approve, Reject or Escalate.")
        if decision is Decision.REJECT and not reason:
            return again("A rejection needs a reason: say why, so the requester can act on it.")
        try:
            with acting_from("teams"):  # the page is reached only from a Teams card
                state = flow.decide(self.ctx, claims, decision=decision, reason=reason or None)
        except LinkRefused as exc:
            return self.refuse(start_response, exc.why, str(exc))
        except (NotAuthorised, NotFound) as exc:
            return self.refuse(start_response, "not_allowed", str(exc))
        except (Conflict, UserError) as exc:
            return self.refuse(start_response, "conflict", str(exc))
        return self._html(
            start_response,
            "200 OK",
            "teams/done.html.j2",
            gate_id=claims.gate_id,
            decision=decision.value,
            state=state.value,
            approver=page.approver,
        )


def approval_app(ctx: Context, settings: Settings) -> WSGIApp:
    """The WSGI app for /teams/… paths (approval page and outgoing-webhook commands).

    Without `teams_link_secret` the approval page answers 503; without
    `teams_outgoing_token` the command endpoint does (never an unverified command)."""
    templates = environment(autoescape_html=True)
    secret = settings.teams_link_secret.get_secret_value() if settings.teams_link_secret else ""
    pages = ApprovalPages(ctx, LinkSigner(secret), templates=templates) if secret else None
    token = settings.teams_outgoing_token
    commands = CommandHandler(ctx, token.get_secret_value()) if token else None
    # Imported here: notice_page shares this module's headers and form reading.
    from commandpost.chat.teams.notice_links import NOTICE_PATH
    from commandpost.chat.teams.notice_page import NoticePages

    notice_pages = NoticePages(ctx, LinkSigner(secret), templates=templates) if secret else None

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == COMMAND_PATH:
            if commands is None:
                return _plain(start_response, "503 Service Unavailable", "not configured\n")
            if method != "POST":
                return _plain(start_response, "405 Method Not Allowed", "POST only\n")
            return commands(environ, start_response)
        if path == NOTICE_PATH:
            if notice_pages is None:
                return _plain(start_response, "503 Service Unavailable", "not configured\n")
            if method == "GET":
                return notice_pages.get(environ, start_response)
            if method == "POST":
                return notice_pages.post(environ, start_response)
            return _plain(start_response, "405 Method Not Allowed", "GET or POST only\n")
        if path != APPROVE_PATH:
            return _plain(start_response, "404 Not Found", "not found\n")
        if pages is None:
            return _plain(start_response, "503 Service Unavailable", "not configured\n")
        if method == "GET":
            return pages.get(environ, start_response)
        if method == "POST":
            return pages.post(environ, start_response)
        return _plain(start_response, "405 Method Not Allowed", "GET or POST only\n")

    return app


def _plain(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]
