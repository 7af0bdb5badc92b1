"""Bolt listeners for notice review cards: Edit, Approve and Reject, and their modals.

Every button carries the notice id and the hash of the text its card shows. A click whose
hash is no longer the notice's is refused (to the clicker alone) and writes nothing: the
text changed since that card was posted, and the newest card is the one to review. The
approval itself passes the hash to the service, which checks it again under the
incident's lock, so an edit landing between the click and the write is refused too.

Modals are opened right after the ack, on Bolt's thread: a trigger_id lives 3 seconds.
Everything that writes runs on the AfterAck pool as urgent work, like gate decisions.
The approver's role (comms or legal) is chosen here from what they hold; whether they may
approve at all is the service's decision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from commandpost.chat.slack import dispatch
from commandpost.chat.slack.blocks_notice import (
    EDIT_CALLBACK,
    NOTICE_APPROVE,
    NOTICE_EDIT,
    NOTICE_REJECT,
    OVERRIDE_CALLBACK,
    REASON_BLOCK,
    REJECT_CALLBACK,
    TEXT_BLOCK,
    editable,
    parse_notice_value,
)
from commandpost.chat.slack.blocks_notice_forms import (
    edit_modal,
    modal_metadata,
    override_modal,
    read_metadata,
    read_reason,
    read_text,
    reject_modal,
)
from commandpost.chat.slack.clicks import clicked
from commandpost.errors import NotFound
from commandpost.service import notices, roles
from commandpost.service.notice_rows import APPROVER_ROLES, NoticeView
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction

if TYPE_CHECKING:  # listeners imports this module to register it
    from commandpost.chat.slack.listeners import Listeners

log = logging.getLogger(__name__)
Body = dict[str, Any]
STALE = (
    ":no_entry: Nothing recorded: the text changed since this card was posted; review the "
    "newest card (notice #{id}, sha256 `{sha}`…)."
)
NOT_DRAFT = ":no_entry: Notice #{id} is {state}: nothing to {doing}."


@dataclass(frozen=True)
class Click:
    """Who clicked which notice card where, and the text hash that card showed."""

    user: str
    channel: str | None
    notice_id: int
    sha256: str


@dataclass
class NoticeListeners:
    base: Listeners

    # --------------------------------------------------------------------- helpers
    def _click(self, body: Body) -> Click | None:
        user, channel, value, _ts = clicked(body)
        try:
            notice_id, sha = parse_notice_value(value)
        except ValueError:
            return None  # not a value we made: ignore, as gate buttons do
        return Click(user, channel, notice_id, sha)

    def _current(self, client: WebClient, click: Click, *, doing: str) -> NoticeView | None:
        """The notice, if the card clicked still shows its text and it is still a draft;
        otherwise the clicker is told why, and None."""
        try:
            view = notices.get(self.base.ctx, click.notice_id)
        except NotFound as exc:
            self._tell(client, click, f":no_entry: {exc}")
            return None
        if view.sha256 != click.sha256:
            self._tell(client, click, STALE.format(id=view.id, sha=view.sha256[:12]))
            return None
        if view.state != "draft":
            self._tell(client, click, NOT_DRAFT.format(id=view.id, state=view.state, doing=doing))
            return None
        return view

    def _tell(self, client: WebClient, click: Click, text: str) -> None:
        self.base.refuse(client, channel=click.channel, user=click.user, text=text)

    def _open(self, client: WebClient, body: Body, click: Click, view: dict[str, Any]) -> None:
        try:
            client.views_open(trigger_id=str(body.get("trigger_id", "")), view=view)
        except SlackClientError as exc:
            self._tell(client, click, f"Could not open the form: {exc}")

    def _later(self, work: Callable[[], None]) -> None:
        self.base.later(work, urgent=True)

    def _held(self, view: NoticeView, person_id: str) -> frozenset[str]:
        """The roles the person holds, acknowledged, in the notice's incident."""
        with read_transaction(self.base.ctx.engine) as session:
            incident = session.get(m.Incident, view.incident_id)
            if incident is None:
                return frozenset()
            policy = self.base.ctx.policy_for(incident)
            return roles.roles_of(session, policy, incident.id, person_id, staffed_only=True)

    def _person(self, client: WebClient, click: Click) -> str | None:
        person = dispatch.person_by_slack_id(self.base.ctx.policy, click.user)
        if person is None:
            self._tell(client, click, dispatch.NOT_IN_POLICY)
            return None
        return person.id

    # ---------------------------------------------------------------------- Approve
    def approve(self, ack: Ack, body: Body, client: WebClient) -> None:
        ack()
        click = self._click(body)
        if click is None:
            return
        try:
            shown = notices.get(self.base.ctx, click.notice_id)
        except NotFound:
            shown = None
        person = dispatch.person_by_slack_id(self.base.ctx.policy, click.user)
        if (
            shown is not None
            and person is not None
            and shown.sha256 == click.sha256
            and shown.state == "draft"
            and shown.blocking
            # An earlier approver's override covers this text (the service records it so).
            and not any(a.override_reason and not a.void for a in shown.approvals)
            and role_for(shown, self._held(shown, person.id)) in self._held(shown, person.id)
        ):
            # Ask for the override reason now: the trigger_id cannot wait for the pool.
            meta = modal_metadata(shown, channel=click.channel)
            self._open(client, body, click, override_modal(shown, metadata=meta))
            return
        self._later(lambda: self._approve(client, click, override_reason=None))

    def _approve(self, client: WebClient, click: Click, *, override_reason: str | None) -> None:
        person_id = self._person(client, click)
        if person_id is None:
            return
        view = self._current(client, click, doing="approve")
        if view is None:
            return
        role = role_for(view, self._held(view, person_id))

        def work() -> str | None:
            done = notices.approve(
                self.base.ctx,
                click.notice_id,
                actor=person_id,
                role=role,
                override_reason=override_reason,
                expected_sha256=click.sha256,
            )
            if done.still_needed:
                return f"Approved as {role}; still needed: {', '.join(done.still_needed)}."
            return None  # the channel's new card says it is fully approved

        self.base.attempt(client, work, channel=click.channel, user=click.user)

    def submit_override(self, ack: Ack, body: Body, client: WebClient) -> None:
        view = body.get("view") or {}
        reason = read_reason(view.get("state", {}).get("values", {}))
        if not reason.strip():
            ack(response_action="errors", errors={REASON_BLOCK: "An override needs a reason."})
            return
        ack()
        click = self._submitted(body)
        if click is not None:
            self._later(lambda: self._approve(client, click, override_reason=reason))

    def _submitted(self, body: Body) -> Click | None:
        meta = read_metadata(str((body.get("view") or {}).get("private_metadata") or ""))
        if meta is None:
            return None
        notice_id, sha, channel = meta
        return Click(str(body.get("user", {}).get("id", "")), channel, notice_id, sha)

    # ------------------------------------------------------------------------- Edit
    def open_edit(self, ack: Ack, body: Body, client: WebClient) -> None:
        ack()
        click = self._click(body)
        if click is None:
            return
        view = self._current(client, click, doing="edit")
        if view is None:
            return
        if not editable(view):
            self._tell(
                client,
                click,
                f"Notice #{view.id} is too long to edit in Slack: use "
                f"`commandpost notice edit {view.id} --file FILE`.",
            )
            return
        meta = modal_metadata(view, channel=click.channel)
        self._open(client, body, click, edit_modal(view, metadata=meta))

    def submit_edit(self, ack: Ack, body: Body, client: WebClient) -> None:
        text = read_text((body.get("view") or {}).get("state", {}).get("values", {}))
        if not text.strip():
            ack(response_action="errors", errors={TEXT_BLOCK: "A notice needs text."})
            return
        ack()
        click = self._submitted(body)
        if click is not None:
            self._later(lambda: self._edit(client, click, text))

    def _edit(self, client: WebClient, click: Click, text: str) -> None:
        person_id = self._person(client, click)
        if person_id is None:
            return
        view = self._current(client, click, doing="edit")
        if view is None:
            return
        if view.text.endswith("\n") and not text.endswith("\n"):
            # Slack drops an input's last line end; keep the draft's, so only what was
            # typed changes the bytes that get approved.
            text += "\n"

        def work() -> None:
            notices.edit(self.base.ctx, click.notice_id, actor=person_id, text=text)

        self.base.attempt(client, work, channel=click.channel, user=click.user)

    # ----------------------------------------------------------------------- Reject
    def open_reject(self, ack: Ack, body: Body, client: WebClient) -> None:
        ack()
        click = self._click(body)
        if click is None:
            return
        view = self._current(client, click, doing="reject")
        if view is not None:
            meta = modal_metadata(view, channel=click.channel)
            self._open(client, body, click, reject_modal(view, metadata=meta))

    def submit_reject(self, ack: Ack, body: Body, client: WebClient) -> None:
        reason = read_reason((body.get("view") or {}).get("state", {}).get("values", {}))
        if not reason.strip():
            ack(response_action="errors", errors={REASON_BLOCK: "Say why: a reason is required."})
            return
        ack()
        click = self._submitted(body)
        if click is not None:
            self._later(lambda: self._reject(client, click, reason))

    def _reject(self, client: WebClient, click: Click, reason: str) -> None:
        person_id = self._person(client, click)
        if person_id is None:
            return
        if self._current(client, click, doing="reject") is None:
            return

        def work() -> None:
            notices.reject(self.base.ctx, click.notice_id, actor=person_id, reason=reason)

        self.base.attempt(client, work, channel=click.channel, user=click.user)


def role_for(view: NoticeView, held: frozenset[str]) -> str:
    """The approver role to use: one still needed that the person holds; else the first
    still needed (the service then says what is missing); else comms."""
    for role in view.still_needed:
        if role in held:
            return role
    return next(iter(view.still_needed), APPROVER_ROLES[0])


def routes(
    listeners: NoticeListeners,
) -> list[tuple[str, str, Callable[[Ack, Body, WebClient], None]]]:
    """(kind, key, listener) for each notice card button and modal (listeners.routes)."""
    return [
        ("action", NOTICE_EDIT, listeners.open_edit),
        ("action", NOTICE_APPROVE, listeners.approve),
        ("action", NOTICE_REJECT, listeners.open_reject),
        ("view", EDIT_CALLBACK, listeners.submit_edit),
        ("view", REJECT_CALLBACK, listeners.submit_reject),
        ("view", OVERRIDE_CALLBACK, listeners.submit_override),
    ]
