"""Gate cards kept in step with their gates.

A gate card is posted once (the outbox item "post" with card "gate:<id>"); the port stores
where (`slack_gate_cards`: channel id and ts) and what it showed (`rendered`: the gate's
state and a digest of the card). Whenever the gate changes, by a button, by a typed
`/incident approve 12`, by a deadline escalating or expiring it, by a fallback, the service
posts a line about it to the incident channel. So the port, before it sends any message
about an incident, re-renders that incident's stored cards from the database and updates
(chat.update) each one whose digest differs from the stored one. A decided card
(approved, rejected, expired, fallback) never changes again and is not rendered again.

Why before the message and not after: a failure is then safe to retry. A 429 or an outage
while updating a card raises DeliveryFailed before the message went out, so the outbox
retries the whole item later, and the cards already updated are skipped by their digest;
nothing is posted twice and no update is lost. A card Slack no longer has (deleted by
hand: `message_not_found`, ...) is logged and marked as rendered, so it never blocks the
incident's messages.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine
from sqlmodel import Session, select

from commandpost.chat.slack import views
from commandpost.chat.slack.blocks import SlackMessage, gate_card
from commandpost.chat.slack.blocks_gate import GateOutcomeView, gate_card_decided
from commandpost.core.gates import Decision, GateState
from commandpost.core.policy import Policy
from commandpost.service.ports import Clock
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction, transaction

log = logging.getLogger(__name__)

PENDING = GateState.PENDING.value


def render(session: Session, policy: Policy, gate_id: int) -> tuple[str, SlackMessage] | None:
    """The card as the gate is now: (its state, the card); None for an unknown gate."""
    view = views.gate_view(session, policy, gate_id)
    gate = session.get(m.Gate, gate_id)
    if view is None or gate is None:
        return None
    if gate.state == PENDING:
        return PENDING, gate_card(view)
    decided = [
        d
        for d in session.exec(select(m.GateDecision).where(m.GateDecision.gate_id == gate_id))
        if d.decision != Decision.ESCALATE.value
    ]
    outcome = GateOutcomeView(
        state=GateState(gate.state),
        at=gate.decided_at or gate.tier_started_at,  # stable, so the digest is too
        by=[views.person_who(policy, d.person_id) for d in decided],
        reason=next((d.reason or "" for d in decided if d.decision == "reject"), ""),
    )
    return gate.state, gate_card_decided(view, outcome)


def rendered(state: str, card: SlackMessage) -> str:
    """What the `rendered` column holds: the gate's state, then a digest of the card."""
    body = json.dumps(card.as_kwargs(), sort_keys=True, default=str).encode()
    return f"{state}:{hashlib.sha256(body).hexdigest()[:40]}"


def is_final(rendered_as: str) -> bool:
    return not rendered_as.startswith(PENDING + ":")


def stored_card(engine: Engine, gate_id: int) -> m.SlackGateCard | None:
    with read_transaction(engine) as session:
        return session.get(m.SlackGateCard, gate_id)


def remember(
    engine: Engine,
    clock: Clock,
    *,
    gate_id: int,
    incident_id: str,
    channel_id: str,
    ts: str,
    rendered_as: str,
) -> None:
    """Store (or move) where a gate card is, and what it shows."""
    with transaction(engine) as session:
        row = session.get(m.SlackGateCard, gate_id)
        if row is None:
            row = m.SlackGateCard(
                gate_id=gate_id,
                incident_id=incident_id,
                channel_id=channel_id,
                ts=ts,
                rendered=rendered_as,
                updated_at=clock.now(),
            )
        else:
            row.channel_id, row.ts = channel_id, ts
            row.rendered, row.updated_at = rendered_as, clock.now()
        session.add(row)


def _mark(engine: Engine, clock: Clock, gate_id: int, rendered_as: str) -> None:
    with transaction(engine) as session:
        row = session.get(m.SlackGateCard, gate_id)
        if row is not None:
            row.rendered, row.updated_at = rendered_as, clock.now()
            session.add(row)


def refresh(
    client: WebClient,
    engine: Engine,
    policy: Policy,
    clock: Clock,
    incident_id: str,
    *,
    call: Any,
) -> int:
    """Update in place every stored card of the incident whose gate changed since it was
    last rendered. `call(what)` is the port's error mapping (a context manager turning a
    429 or an outage into DeliveryFailed). Returns how many cards were updated."""
    with read_transaction(engine) as session:
        cards = [
            c
            for c in session.exec(
                select(m.SlackGateCard).where(m.SlackGateCard.incident_id == incident_id)
            )
            if not is_final(c.rendered)
        ]
    updated = 0
    for card in sorted(cards, key=lambda c: c.gate_id):
        with read_transaction(engine) as session:
            now = render(session, policy, card.gate_id)
        if now is None:
            continue
        state, message = now
        digest = rendered(state, message)
        if digest == card.rendered:
            continue
        with call("chat.update"):
            try:
                client.chat_update(channel=card.channel_id, ts=card.ts, **message.as_kwargs())
            except SlackApiError as exc:
                status = exc.response.status_code
                data = exc.response.data if isinstance(exc.response.data, dict) else {}
                error = str(data.get("error") or "")
                if status == 429 or status >= 500 or error == "ratelimited":
                    raise  # `call` defers the whole item: nothing was posted yet
                # The card is gone or cannot be edited: say so once, never block on it.
                log.warning("gate card #%s not updated: %s", card.gate_id, error or status)
        _mark(engine, clock, card.gate_id, digest)
        updated += 1
    return updated
