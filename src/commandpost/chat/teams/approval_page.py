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

from collections.abc import Iterable
from typing import Any

from commandpost.chat.teams import approval_flow as flow
from commandpost.chat.teams.approvals import LinkRefused, LinkSigner
from commandpost.chat.teams.cardtext import label, when
from commandpost.chat.teams.notice_links import NOTICE_PATH
from commandpost.chat.teams.notice_page import NoticePages
from commandpost.chat.teams.outgoing import CommandHandler
from commandpost.chat.teams.pages import LinkPages, StartResponse, WSGIApp
from commandpost.core.gates import Decision
from commandpost.errors import Conflict, NotAuthorised, NotFound, UserError
from commandpost.service.context import Context
from commandpost.service.origin import acting_from
from commandpost.settings import Settings
from commandpost.templating import environment

PREFIX = "/teams/"
APPROVE_PATH = "/teams/approve"
COMMAND_PATH = "/teams/command"
COOKIE = "cp_teams_csrf"
_CHOICES = (
    (Decision.APPROVE.value, "Approve exactly this payload"),
    (Decision.REJECT.value, "Reject (give a reason)"),
    (Decision.ESCALATE.value, "Escalate to the next tier"),
)


def is_teams_path(path: str) -> bool:
    return path.startswith(PREFIX)


class ApprovalPages(LinkPages[flow.GatePage]):
    """The approval page's GET and POST, over one Context and one signer."""

    cookie_name = COOKIE
    path = APPROVE_PATH
    refused_template = "teams/refused.html.j2"
    what = "approval"
    page_name = "approval"

    def open(self, token: str) -> flow.GatePage:
        return flow.load(self.ctx, self.signer.read(token, now=self.ctx.now()))

    def get(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        try:
            token, chosen, page, cookie = self.opened(environ)
        except LinkRefused as exc:
            return self.refused(start_response, exc)
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
        return self.html(
            start_response,
            status=status,
            template="teams/approve.html.j2",
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
        try:
            form, page, cookie = self.posted(environ)
        except LinkRefused as exc:
            return self.refused(start_response, exc)
        token, chosen, reason, claims = form.token, form.chosen, form.reason, page.claims

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
            return self.refused(start_response, exc)
        except (NotAuthorised, NotFound) as exc:
            return self.refuse(start_response, "not_allowed", message=str(exc))
        except (Conflict, UserError) as exc:
            return self.refuse(start_response, "conflict", message=str(exc))
        return self.html(
            start_response,
            status="200 OK",
            template="teams/done.html.j2",
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
    notice_pages = NoticePages(ctx, LinkSigner(secret), templates=templates) if secret else None
    by_path: dict[str, ApprovalPages | NoticePages | None] = {
        APPROVE_PATH: pages,
        NOTICE_PATH: notice_pages,
    }

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == COMMAND_PATH:
            if commands is None:
                return _plain(start_response, "503 Service Unavailable", "not configured\n")
            if method != "POST":
                return _plain(start_response, "405 Method Not Allowed", "POST only\n")
            return commands(environ, start_response)
        if path not in by_path:
            return _plain(start_response, "404 Not Found", "not found\n")
        page = by_path[path]
        if page is None:
            return _plain(start_response, "503 Service Unavailable", "not configured\n")
        if method == "GET":
            return page.get(environ, start_response)
        if method == "POST":
            return page.post(environ, start_response)
        return _plain(start_response, "405 Method Not Allowed", "GET or POST only\n")

    return app


def _plain(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]
