"""The notice review page behind a notice card's signed links.

    GET  /teams/notice?token=…   the text exactly as it will be sent, the lint findings, the
                                 approvals so far, and a form; sets a CSRF cookie
    POST /teams/notice           token + CSRF value + decision (+ reason): Approve (with a
                                 blocking finding, the reason is the required override) or
                                 Reject (reason required), through `service.notices`

Served by `approval_page.approval_app` beside the gate page, with the same headers (no
referrer, no caching, no framing: `pages`) and the same refusals: a forged, expired, spent or
wrong-kind link, one for a text that has since changed or a notice no longer in draft, and
a POST without the CSRF value the page's own GET set up, get a refusal page and write
nothing.
"""

from __future__ import annotations

from typing import Any

from commandpost.chat.teams import notice_flow as flow
from commandpost.chat.teams.approvals import LinkRefused
from commandpost.chat.teams.cardtext import label, when
from commandpost.chat.teams.notice_cards import where_to
from commandpost.chat.teams.notice_links import NOTICE_PATH, read
from commandpost.chat.teams.pages import LinkPages, StartResponse
from commandpost.core.policy import ChatNoticeDestination
from commandpost.errors import NotAuthorised, NotFound, UserError
from commandpost.service.origin import acting_from
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction

COOKIE = "cp_teams_notice_csrf"
_CHOICES = (
    (flow.APPROVE, "Approve exactly this text"),
    (flow.REJECT, "Reject (give a reason)"),
)


class NoticePages(LinkPages[flow.NoticePage]):
    """The review page's GET and POST, over one Context and one signer."""

    cookie_name = COOKIE
    path = NOTICE_PATH
    refused_template = "teams/notice_refused.html.j2"
    what = "notice"
    page_name = "review"

    def open(self, token: str) -> flow.NoticePage:
        return flow.load(self.ctx, read(self.signer, token, now=self.ctx.now()))

    def get(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        try:
            token, chosen, page, cookie = self.opened(environ)
        except LinkRefused as exc:
            return self.refused(start_response, exc)
        return self._form(start_response, page, cookie=cookie, chosen=chosen, token=token)

    def _sends_to(self, page: flow.NoticePage) -> str:
        with read_transaction(self.ctx.engine) as session:
            incident = session.get(m.Incident, page.notice.incident_id)
            assert incident is not None
            policy = self.ctx.policy_for(incident)
            found = []
            for destination in policy.notices.channels.get(page.notice.template, []):
                for recipient in destination.recipients():
                    if isinstance(destination, ChatNoticeDestination) and recipient == "incident":
                        recipient = incident.channel
                    found.append(where_to(destination.type, recipient))
        return ", ".join(found) or "nobody: the policy names no channel for this notice"

    def _form(
        self,
        start_response: StartResponse,
        page: flow.NoticePage,
        *,
        cookie: str,
        chosen: str,
        token: str,
        status: str = "200 OK",
        error: str = "",
        reason: str = "",
    ) -> list[bytes]:
        notice = page.notice
        required = {a.role for a in notice.approvals if not a.void} | set(notice.still_needed)
        approvals = [
            {
                "who": page.names.get(a.person_id, a.person_id),
                "role": a.role,
                "at": a.at,
                "override": a.override_reason or "",
                "void": a.void,
            }
            for a in notice.approvals
        ]
        findings = [
            {
                "rule": str(f.get("rule", "?")),
                "blocking": bool(f.get("blocking")),
                "text": str(f.get("text") or ""),
                "message": str(f.get("message", "")),
            }
            for f in notice.findings
        ]
        return self.html(
            start_response,
            status=status,
            template="teams/notice_review.html.j2",
            cookie=cookie,
            notice=notice,
            audience=label(notice.template),
            incident_title=page.incident_title,
            reviewer=page.reviewer,
            drafted_by=page.names.get(notice.created_by, notice.created_by),
            expires=when(page.claims.expires_at),
            sends_to=self._sends_to(page),
            findings=findings,
            blocking=len(notice.blocking),
            overridden=page.overridden,
            required=" and ".join(label(r) for r in sorted(required)) or "nobody",
            still_needed=", ".join(label(r) for r in notice.still_needed) or "nothing",
            approvals=approvals,
            token=token,
            csrf=self.signer.csrf(page.claims, cookie),
            choices=_CHOICES,
            chosen=chosen,
            error=error,
            reason=reason,
            action=NOTICE_PATH,
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
                token=token,
                status="400 Bad Request",
                error=error,
                reason=reason,
            )

        if chosen not in (flow.APPROVE, flow.REJECT):
            return again("Choose Approve or Reject.")
        if chosen == flow.REJECT and not reason:
            return again("A rejection needs a reason: say why, so the drafter can act on it.")
        if chosen == flow.APPROVE and page.notice.blocking and not page.overridden and not reason:
            return again(
                f"The text has {len(page.notice.blocking)} blocking lint finding(s): approving"
                " it anyway needs your written override reason."
            )
        # Without blocking findings a reason is not an override: the service ignores it.
        given = reason if chosen == flow.REJECT or page.notice.blocking else None
        try:
            with acting_from("teams"):  # the page is reached only from a Teams card
                done = flow.decide(self.ctx, claims, decision=chosen, reason=given or None)
        except LinkRefused as exc:
            return self.refused(start_response, exc)
        except (NotAuthorised, NotFound) as exc:
            return self.refuse(start_response, "not_allowed", message=str(exc))
        except UserError as exc:
            return self.refuse(start_response, "conflict", message=str(exc))
        return self.html(
            start_response,
            status="200 OK",
            template="teams/notice_done.html.j2",
            notice_id=claims.notice_id,
            decision=chosen,
            state=done.state,
            still_needed=", ".join(label(r) for r in done.still_needed),
            reviewer=page.reviewer,
        )
