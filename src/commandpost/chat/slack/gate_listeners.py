"""Bolt listeners for gate cards: Approve, Escalate, and Reject with its reason modal.

Who may decide is the service's check (gates.decide), made on the server for every click: a
person who may not gets a refusal only they see, and nothing is written. The decision runs on
the AfterAck pool as urgent work; the card is then updated in place (see update_gate_card).
The reject modal is opened right after the ack, on Bolt's thread: a trigger_id lives 3 seconds.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from sqlalchemy.exc import IntegrityError

from commandpost.chat.slack import dispatch, gatecards
from commandpost.chat.slack.blocks import GATE_APPROVE, parse_gate_value, reject_reason_modal
from commandpost.chat.slack.blocks_gate import REASON_BLOCK, read_reject_reason
from commandpost.chat.slack.clicks import clicked
from commandpost.core.gates import Decision
from commandpost.service import gates
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction

if TYPE_CHECKING:  # listeners imports this module to register it
    from commandpost.chat.slack.listeners import Listeners

log = logging.getLogger(__name__)
Body = dict[str, Any]


@dataclass
class GateListeners:
    base: Listeners

    def decide(self, ack: Ack, body: Body, client: WebClient) -> None:
        ack()
        user, channel, value, ts = clicked(body)
        action_id = str(body["actions"][0]["action_id"])
        decision = Decision.APPROVE if action_id == GATE_APPROVE else Decision.ESCALATE
        self.base.later(
            lambda: self._decide(
                client, user=user, channel=channel, ts=ts, value=value, decision=decision
            ),
            urgent=True,
        )

    def _decide(
        self,
        client: WebClient,
        *,
        user: str,
        channel: str | None,
        ts: str | None,
        value: str,
        decision: Decision,
        reason: str | None = None,
    ) -> None:
        person = dispatch.person_by_slack_id(self.base.ctx.policy, user)
        if person is None:
            self.base.refuse(client, channel=channel, user=user, text=dispatch.NOT_IN_POLICY)
            return
        try:
            gate_id = parse_gate_value(value)
        except ValueError:
            return

        def work() -> None:
            gates.decide(self.base.ctx, gate_id, actor=person.id, decision=decision, reason=reason)

        if self.base.attempt(client, work, channel=channel, user=user) and channel and ts:
            self.update_gate_card(client, gate_id, channel=channel, ts=ts)

    def update_gate_card(self, client: WebClient, gate_id: int, *, channel: str, ts: str) -> None:
        """A stored card is refreshed by the port before the message the decision queued
        (one writer per incident, so no stale render overwrites a newer one). A card the
        port did not store (posted before migration 0003) is updated here and adopted, so
        later changes reach it too."""
        if gatecards.stored_card(self.base.ctx.engine, gate_id) is not None:
            return
        with read_transaction(self.base.ctx.engine) as session:
            now = gatecards.render(session, self.base.ctx.policy, gate_id)
            gate = session.get(m.Gate, gate_id)
        if now is None or gate is None:
            return
        state, card = now
        try:
            client.chat_update(channel=channel, ts=ts, **card.as_kwargs())
        except SlackClientError as exc:
            log.warning("card not updated: %s", exc)
            return
        with contextlib.suppress(IntegrityError):
            gatecards.remember(
                self.base.ctx.engine,
                self.base.ctx.clock,
                gate_id=gate_id,
                incident_id=gate.incident_id,
                channel_id=channel,
                ts=ts,
                rendered_as=gatecards.rendered(state, card),
            )

    def open_reject(self, ack: Ack, body: Body, client: WebClient) -> None:
        ack()
        user, channel, value, ts = clicked(body)
        try:
            gate_id = parse_gate_value(value)
        except ValueError:
            return
        with read_transaction(self.base.ctx.engine) as session:
            gate = session.get(m.Gate, gate_id)
            action = gate.subject if gate else ""
        view = reject_reason_modal(gate_id, action=action)
        view["private_metadata"] = json.dumps({"gate": value, "channel": channel, "ts": ts})
        try:
            client.views_open(trigger_id=str(body.get("trigger_id", "")), view=view)
        except SlackClientError as exc:
            problem = f"Could not open the form: {exc}"
            self.base.refuse(client, channel=channel, user=user, text=problem)

    def submit_reject(self, ack: Ack, body: Body, client: WebClient) -> None:
        view = body.get("view") or {}
        reason = _reason(view)
        if not reason.strip():
            ack(response_action="errors", errors={REASON_BLOCK: "Say why: a reason is required."})
            return
        ack()
        meta = json.loads(view.get("private_metadata") or "{}")
        self.base.later(
            lambda: self._decide(
                client,
                user=str(body.get("user", {}).get("id", "")),
                channel=meta.get("channel"),
                ts=meta.get("ts"),
                value=str(meta.get("gate", "")),
                decision=Decision.REJECT,
                reason=reason,
            ),
            urgent=True,
        )


def _reason(view: Body) -> str:
    return read_reject_reason(view.get("state", {}).get("values", {}))
