"""The chat port on Slack's Web API, called by the outbox after the change committed.

    open_channel   see `channel_setup`: create the channel, set it up, post and pin the
                   summary card (rendered here).
    post           chat.postMessage to the incident channel's id (or a named channel such as
                   the announcements channel); a gate request is shown as a gate card with
                   buttons, and where it went is stored (slack_gate_cards). Before any
                   message about an incident, that incident's gate cards whose gate changed
                   since they were rendered are updated in place (see `gatecards`); after it,
                   the pinned summary card is. A message about a notice (card
                   "notice:<id>") is posted as a fresh review card of the notice as it is
                   now, so the newest card in the channel is always the one to act on.
    direct         chat.postMessage to the person's user id (the app's DM); a page is shown
                   as a role page with an Acknowledge button.

Every failure is raised as `DeliveryFailed` (see `slack_calls`), so the outbox keeps the
intent and retries it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Engine

from commandpost.chat.slack import gatecards, views
from commandpost.chat.slack.blocks import SlackMessage, SummaryView, role_page, summary_card
from commandpost.chat.slack.blocks_notice import notice_card
from commandpost.chat.slack.blocks_text import escape
from commandpost.chat.slack.channel_setup import ChannelSetup
from commandpost.chat.slack.slack_calls import error_of, slack_call
from commandpost.core.policy import Person, Policy
from commandpost.core.vocabulary import Role
from commandpost.errors import DeliveryFailed, NotFound
from commandpost.service import notices
from commandpost.service.context import Context
from commandpost.service.ports import Clock, ExecutionRequest, ExecutionResult
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction

log = logging.getLogger(__name__)


def _gate_ref(card: str | None) -> int | None:
    return _ref(card, "gate")


def _ref(card: str | None, kind: str) -> int | None:
    named, _, ref = (card or "").partition(":")
    return int(ref) if named == kind and ref.isdigit() else None


class _NoExecution:
    """The port reads notices through the service, which wants a whole Context; reading
    never executes anything, so this executor is never called."""

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        raise AssertionError("the Slack port's reading context executes nothing")


class SlackChat:
    """`ChatPort` over a `slack_sdk.WebClient`; channel ids are kept in the database."""

    def __init__(self, client: WebClient, *, engine: Engine, policy: Policy, clock: Clock):
        self.client = client
        self.engine = engine
        self.policy = policy
        self.clock = clock
        self._local = threading.local()
        self._reader: Context | None = None
        self._setup = ChannelSetup(
            client, engine=engine, policy=policy, clock=clock, card=self._card
        )

    def open_channel(self, *, name: str, topic: str, incident_id: str) -> None:
        self._setup.open(name=name, topic=topic, incident_id=incident_id)

    def _summary(self, incident_id: str) -> dict[str, Any]:
        with read_transaction(self.engine) as session:
            view = views.summary_view(session, self.policy, incident_id)
        return self._card(incident_id, view)

    @staticmethod
    def _card(incident_id: str, view: SummaryView | None) -> dict[str, Any]:
        if view is None:
            return {"text": f"Incident {incident_id}"}
        return summary_card(view).as_kwargs()

    # ---------------------------------------------------------------------------- post
    def post(
        self, *, channel: str, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        stored = views.channel_for_incident(self.engine, incident_id) if incident_id else None
        if channel.startswith("#") or incident_id is None:
            target = channel.lstrip("#")
        elif stored is None:
            # Waiting on the open_channel item (deferred or failing): not an attempt used up.
            raise DeliveryFailed(f"the channel of {incident_id} is not open yet", retry_after=1)
        else:
            target = stored.channel_id
        if stored is not None:
            # Gate cards first: a 429 here defers the whole item before anything is posted.
            gatecards.refresh(
                self.client,
                self.engine,
                self.policy,
                self.clock,
                stored.incident_id,
                call=slack_call,
            )
        gate_id = _gate_ref(card)
        if gate_id is not None and gatecards.stored_card(self.engine, gate_id) is not None:
            return  # this gate's card is already posted (a retry): it is refreshed above
        rich = self._gate_card(gate_id)
        content = rich[1].as_kwargs() if rich else self._notice_card(card, text)
        with slack_call("chat.postMessage"):
            reply = self.client.chat_postMessage(channel=target, **content)
        if rich is not None and gate_id is not None and incident_id is not None:
            gatecards.remember(
                self.engine,
                self.clock,
                gate_id=gate_id,
                incident_id=incident_id,
                channel_id=str(reply.get("channel") or target),
                ts=str(reply["ts"]),
                rendered_as=gatecards.rendered(*rich),
            )
        if stored is not None and stored.summary_ts and target == stored.channel_id:
            self._stale_summaries().setdefault(stored.incident_id, stored)

    def _stale_summaries(self) -> dict[str, m.SlackChannel]:
        # Per thread: each outbox lane settles the cards its own messages made stale.
        stale: dict[str, m.SlackChannel] | None = getattr(self._local, "stale", None)
        if stale is None:
            stale = self._local.stale = {}
        return stale

    def settle(self) -> None:
        """Refresh each summary card made stale since the last settle, once: a burst of
        notes in one incident costs one chat.update, not one per note."""
        stale = self._stale_summaries()
        while stale:
            _, stored = stale.popitem()
            self.refresh_summary(stored)

    def refresh_summary(self, stored: m.SlackChannel) -> None:
        """Update the pinned card in place; a failure here is logged, not retried: the
        message it accompanied went out, and the next change refreshes the card anyway."""
        card = self._summary(stored.incident_id)
        try:
            self.client.chat_update(channel=stored.channel_id, ts=stored.summary_ts or "", **card)
        except (SlackClientError, OSError) as exc:
            log.warning("summary card of %s not updated: %s", stored.incident_id, exc)

    def _gate_card(self, gate_id: int | None) -> tuple[str, SlackMessage] | None:
        """The gate's card as the gate is now (decided already, if it was decided before
        its card went out)."""
        if gate_id is None:
            return None
        with read_transaction(self.engine) as session:
            return gatecards.render(session, self.policy, gate_id)

    def _notice_card(self, card: str | None, text: str) -> dict[str, Any]:
        """The notice's review card as it is now, the service's line as its fallback
        text; the plain line alone for any other message (or a notice that is gone)."""
        notice_id = _ref(card, "notice")
        if notice_id is None:
            return {"text": text}
        if self._reader is None:
            self._reader = Context(
                engine=self.engine,
                policy=self.policy,
                clock=self.clock,
                chat=self,
                executor=_NoExecution(),
            )
        try:
            shown = notices.get(self._reader, notice_id)
        except NotFound:
            return {"text": text}
        ids = {shown.created_by, *(a.person_id for a in shown.approvals)}
        people = {p: views.person_who(self.policy, p) for p in ids}
        return notice_card(shown, people=people, fallback=escape(text)).as_kwargs()

    # -------------------------------------------------------------------------- direct
    def direct(
        self, *, person: Person, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        user = person.slack_id or self._lookup(person)
        if user is None:
            log.warning("%s has no Slack id and no Slack account by email: not sent", person.id)
            return
        content: dict[str, Any] = {"text": text}
        kind, _, ref = (card or "").partition(":")
        if kind == "role_page" and incident_id and ref in {r.value for r in Role}:
            with read_transaction(self.engine) as session:
                page = views.role_page_view(session, self.policy, incident_id, Role(ref))
            if page is not None:
                content = role_page(page).as_kwargs()
        with slack_call("chat.postMessage"):
            self.client.chat_postMessage(channel=user, **content)

    def _lookup(self, person: Person) -> str | None:
        with slack_call("users.lookupByEmail"):
            try:
                reply = self.client.users_lookupByEmail(email=person.email)
            except SlackApiError as exc:
                if error_of(exc) == "users_not_found":
                    return None
                raise
        return str(reply["user"]["id"])
