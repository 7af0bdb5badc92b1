"""Delivering queued effects through the ports, after the change that caused them committed.

Each item is claimed with a conditional update, so two workers never deliver it twice; a
failing delivery stays queued with its error and is retried on the next pass. A call the port
says to retry later (`DeliveryFailed.retry_after`: a rate limit, an outage) is deferred until
`not_before` and does not use up an attempt: a 429 storm delays messages, never drops them.
"""

from __future__ import annotations

import json
import logging
import zlib
from datetime import timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select

from commandpost.core.gates import GateKind
from commandpost.errors import CommandPostError, DeliveryFailed
from commandpost.service.context import Context, audit, load_incident, post
from commandpost.service.gate_outcomes import mark_contained
from commandpost.service.ports import ExecutionRequest
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction, transaction

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
BATCH = 25  # re-read between batches, so a new channel does not wait out a backlog


def lane_of(incident_id: str | None, lanes: int) -> int:
    """Items of one incident always share a lane, so they go out in the order they were made."""
    return zlib.crc32((incident_id or "").encode()) % lanes


def deliver(ctx: Context, *, lane: tuple[int, int] | None = None) -> int:
    """Deliver pending items, including those queued by deliveries; each is tried once per call.

    `lane=(k, n)` delivers only the items of lane k of n: n deliverers work in parallel
    without reordering any incident's messages.
    """
    tried: set[int] = set()
    delivered = 0
    while True:
        with read_transaction(ctx.engine) as session:
            ids = [
                i
                for i, incident_id in session.exec(
                    select(m.OutboxItem.id, m.OutboxItem.incident_id)
                    .where(
                        m.OutboxItem.state == "pending",
                        or_(
                            col(m.OutboxItem.not_before).is_(None),
                            col(m.OutboxItem.not_before) <= ctx.now(),
                        ),
                    )
                    # A new incident's channel first: everything else about it waits on that.
                    .order_by(col(m.OutboxItem.kind) != "open_channel", col(m.OutboxItem.id))
                )
                if i is not None
                and i not in tried
                and (lane is None or lane_of(incident_id, lane[1]) == lane[0])
            ][:BATCH]
        if not ids:
            return delivered
        for item_id in ids:
            tried.add(item_id)
            if _claim(ctx, item_id):
                delivered += _deliver_one(ctx, item_id)


def _claim(ctx: Context, item_id: int) -> bool:
    with transaction(ctx.engine) as session:
        result = session.exec(
            update(m.OutboxItem)
            .where(col(m.OutboxItem.id) == item_id, col(m.OutboxItem.state) == "pending")
            .values(state="sending")
        )
        return bool(result.rowcount == 1)


def _deliver_one(ctx: Context, item_id: int) -> int:
    with transaction(ctx.engine) as session:
        item = session.get(m.OutboxItem, item_id)
        assert item is not None
        body = json.loads(item.body)
    try:
        if item.kind == "execute":
            _execute(ctx, item, body)
        else:
            _chat(ctx, item, body)
    except Exception as exc:
        log.warning(
            "delivery of outbox item %s (%s) failed: %s", item_id, item.kind, type(exc).__name__
        )
        with transaction(ctx.engine) as session:
            row = session.get(m.OutboxItem, item_id)
            assert row is not None
            row.last_error = f"{type(exc).__name__}: {exc}"[:500]
            retry_after = exc.retry_after if isinstance(exc, DeliveryFailed) else None
            if retry_after is not None:
                row.not_before = ctx.now() + timedelta(seconds=retry_after)
            else:
                row.attempts += 1
            row.state = "failed" if row.attempts >= MAX_ATTEMPTS else "pending"
            session.add(row)
        return 0
    with transaction(ctx.engine) as session:
        row = session.get(m.OutboxItem, item_id)
        assert row is not None
        row.state = "delivered"
        row.attempts += 1
        row.delivered_at = ctx.now()
        session.add(row)
    return 1


def _chat(ctx: Context, item: m.OutboxItem, body: dict[str, str]) -> None:
    if item.kind == "open_channel":
        assert item.incident_id is not None
        ctx.chat.open_channel(name=body["name"], topic=body["topic"], incident_id=item.incident_id)
    elif item.kind == "post":
        ctx.chat.post(
            channel=body["channel"],
            text=body["text"],
            incident_id=item.incident_id,
            card=body.get("card"),
        )
    elif item.kind == "direct":
        person = ctx.policy.person(body["person_id"])
        if person is None:
            raise CommandPostError(f"unknown person {body['person_id']}")
        ctx.chat.direct(
            person=person, text=body["text"], incident_id=item.incident_id, card=body.get("card")
        )
    else:
        raise CommandPostError(f"unknown outbox kind {item.kind}")


def _execute(ctx: Context, item: m.OutboxItem, body: dict[str, object]) -> None:
    gate_id = int(str(body["gate_id"]))
    action = str(body["action"])
    params = body["params"]
    assert isinstance(params, dict) and item.incident_id is not None
    with transaction(ctx.engine) as session:
        incident = load_incident(session, item.incident_id)
    policy = ctx.policy_for(incident)
    spec = policy.actions[action]
    try:
        request = ExecutionRequest(
            name=action,
            action=spec,
            params=dict(params["values"]),
            mode=str(params["mode"]),
            gate_id=gate_id,
            incident_id=incident.id,
        )
        result = ctx.executor.execute(request)
    except Exception as exc:
        attempt = item.attempts + 1
        final = attempt >= MAX_ATTEMPTS
        with transaction(ctx.engine) as session:
            incident = load_incident(session, item.incident_id, lock=True)
            audit(
                session,
                ctx,
                incident,
                actor="commandpost",
                kind="action.failed",
                gate=gate_id,
                action=action,
                error=f"{type(exc).__name__}: {exc}"[:300],
                attempt=attempt,
                final=final,
            )
            if final:
                # The outbox parks the item after this attempt: say so, and mark the gate.
                gate = session.get(m.Gate, gate_id)
                assert gate is not None
                gate.execution = "failed"
                session.add(gate)
            post(
                session,
                ctx,
                incident,
                f"Gate #{gate_id}: running {action} FAILED ({type(exc).__name__}: {exc}); "
                + (
                    f"GAVE UP after {attempt} attempts: the action did NOT run; "
                    "do it by hand or request it again."
                    if final
                    else "the request stays queued and will be retried."
                ),
            )
        raise
    with transaction(ctx.engine) as session:
        incident = load_incident(session, item.incident_id, lock=True)
        gate = session.get(m.Gate, gate_id)
        assert gate is not None
        now = ctx.now()
        if result.status == "manual":
            gate.execution = "manual_pending"
            text = (
                f"MANUAL STEP for gate #{gate_id}: {action} "
                f"{json.dumps(params['values'], sort_keys=True)}. {result.detail} "
                f"Confirm when done: confirm {gate_id}."
            )
            kind = "action.manual_pending"
        else:
            gate.execution = "executed"
            gate.executed_at = now
            text = f"Gate #{gate_id}: {action} executed ({result.detail or 'confirmed'})."
            kind = "action.executed"
        gate.execution_detail = result.detail
        session.add(gate)
        audit(
            session,
            ctx,
            incident,
            actor="commandpost",
            kind=kind,
            gate=gate_id,
            action=action,
            mode=params["mode"],
            detail=result.detail,
        )
        post(session, ctx, incident, text)
        if gate.execution == "executed" and gate.kind == GateKind.CONTAINMENT.value:
            mark_contained(session, ctx, incident, gate, actor="commandpost")
