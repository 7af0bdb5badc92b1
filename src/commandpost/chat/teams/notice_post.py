"""A notice's review card as the notice is now, with freshly signed links: what `TeamsChat`
posts for a message about a notice (card "notice:<id>").

Reads through `notice_rows.view`, the same read model the Slack card uses; the reviewers
come from `notice_flow.eligible_reviewers`. The card's state word is "pending" while the
notice is a draft, so the port re-posts it once its links have expired, as it does a
pending gate's card.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from commandpost.chat.teams import cards
from commandpost.chat.teams.cardtext import Card
from commandpost.chat.teams.notice_cards import ReviewerLinks, notice_review_card, where_to
from commandpost.chat.teams.notice_flow import APPROVE, REJECT, eligible_reviewers
from commandpost.chat.teams.notice_links import issue, review_url
from commandpost.core.gates import GateState
from commandpost.core.policy import ChatNoticeDestination
from commandpost.service.context import Context
from commandpost.service.notice_rows import NoticeView, view
from commandpost.service.ports import ExecutionRequest, ExecutionResult
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction
from commandpost.storage.notice_models import Notice

if TYPE_CHECKING:  # the port imports this module
    from commandpost.chat.teams.port import TeamsChat

PENDING = GateState.PENDING.value


class _NoExecution:
    """`notice_rows.view` wants a Context for the incident's policy; reading never
    executes anything, so this executor is never called."""

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        raise AssertionError("the Teams notice card's reading context executes nothing")


def review_card(chat: TeamsChat, notice_id: int, revision: int) -> tuple[Card, str] | None:
    """The card and its state word, or None when there is no such notice."""
    reader = Context(
        engine=chat.engine,
        policy=chat.policy,
        clock=chat.clock,
        chat=chat,
        executor=_NoExecution(),
    )
    with read_transaction(chat.engine) as session:
        notice = session.get(Notice, notice_id)
        incident = session.get(m.Incident, notice.incident_id) if notice else None
        if notice is None or incident is None:
            return None
        shown = view(session, reader, notice)
        policy = reader.policy_for(incident)
        reviewers = eligible_reviewers(session, policy, shown)
        sends_to = []
        for destination in policy.notices.channels.get(notice.template, []):
            for recipient in destination.recipients():
                if isinstance(destination, ChatNoticeDestination) and recipient == "incident":
                    recipient = incident.channel
                sends_to.append(where_to(destination.type, recipient))
        names = {p.id: p.name for p in policy.people}
    links = []
    if chat.signer is not None:
        base = chat.settings.teams_public_url
        for one in reviewers:
            token = issue(
                chat.signer,
                incident_id=shown.incident_id,
                notice_id=shown.id,
                person_id=one.person.id,
                text_hash=shown.sha256,
                now=chat.clock.now(),
                ttl=chat.ttl,
            )
            links.append(
                ReviewerLinks(
                    name=one.person.name,
                    roles=one.roles,
                    approve=review_url(base, token, APPROVE) if one.may_approve else None,
                    reject=review_url(base, token, REJECT),
                )
            )
    stamp = cards.Stamp(revision, chat.clock.now(), f"notice #{notice_id}")
    card = notice_review_card(shown, stamp, links, names=names, sends_to=sends_to)
    return card, _state(shown)


def _state(shown: NoticeView) -> str:
    return PENDING if shown.state == "draft" else shown.state
