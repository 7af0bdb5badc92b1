"""Delivering queued effects through the ports, after the change that caused them committed.

Items are claimed with a conditional update (a batch at a time, one write), so two workers
never deliver an item at once; the claim is a lease, so an item whose deliverer died mid-call
is delivered later rather than never (at least once: executors send an idempotency key). A
failing delivery stays queued with its error and is retried on the next pass. A call the port
says to retry later (`DeliveryFailed.retry_after`: a rate limit, an outage) is deferred until
`not_before` and does not use up an attempt: a 429 storm delays messages, never drops them.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Update, and_, bindparam, or_, update
from sqlalchemy import select as select_core
from sqlmodel import col, select

from commandpost.core.gates import GateKind
from commandpost.errors import CommandPostError, DeliveryFailed
from commandpost.service.context import (
    CLAIM_LEASE,
    OUTBOX,
    Context,
    audit,
    load_incident,
    post,
)
from commandpost.service.gate_outcomes import mark_contained
from commandpost.service.notice_delivery import deliver_notice
from commandpost.service.ports import ExecutionRequest, SettlingChat
from commandpost.storage import models as m
from commandpost.storage import small_writes
from commandpost.storage.engine import read_connection, read_transaction, transaction

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
BATCH = 25  # re-read between batches, so a new channel does not wait out a backlog
FINISH_EVERY = 0.25  # seconds: how late a chat message's outcome may be recorded
RECORD_AT_ONCE = frozenset({"open_channel", "execute", "notice"})


@dataclass(frozen=True)
class Due:
    id: int
    incident_id: str | None
    kind: str


def due_items(ctx: Context, *, limit: int | None = None, openings_only: bool = False) -> list[Due]:
    """Items that can be sent now, a new incident's channel first, then in the order made.

    An item of an incident whose channel is still being opened is left out: it would only be
    deferred by the chat port, and sending it must wait for the channel anyway. Those
    incidents are read first (there are few): asked per item instead, as a correlated
    sub-query, a backlog of a few thousand notes took a tenth of a second a read (measured).
    `openings_only`: just the channel openings that are due (a cheap read).
    """
    opening = col(m.OutboxItem.kind) == "open_channel"
    query = select(m.OutboxItem.id, m.OutboxItem.incident_id, m.OutboxItem.kind).where(
        _claimable(ctx.now())
    )
    with read_transaction(ctx.engine) as session:
        if openings_only:
            query = query.where(opening)
        else:
            being_opened = session.exec(
                select(m.OutboxItem.incident_id)
                .where(opening, col(m.OutboxItem.state).in_(("pending", "sending")))
                .distinct()
            ).all()
            waiting = [i for i in being_opened if i is not None]
            if waiting:
                of = col(m.OutboxItem.incident_id)
                query = query.where(or_(opening, of.is_(None), of.not_in(waiting)))
        query = query.order_by(col(m.OutboxItem.kind) != "open_channel", col(m.OutboxItem.id))
        rows = session.exec(query.limit(limit))
        return [Due(i, incident, kind) for i, incident, kind in rows if i is not None]


def deliver(ctx: Context) -> int:
    """Deliver pending items, including those queued by deliveries; each is tried once per call."""
    tried: set[int] = set()
    delivered = 0
    while True:
        ids = [d.id for d in due_items(ctx) if d.id not in tried][:BATCH]
        if not ids:
            return delivered
        tried.update(ids)
        delivered += deliver_items(ctx, ids)


def deliver_items(ctx: Context, ids: list[int]) -> int:
    """Claim what is still due of `ids` and send it, in id order; how many went out.

    Outcomes of chat messages are recorded a few at a time (at most FINISH_EVERY seconds
    late), not one write each: on SQLite every write queues for the one writer, and a busy
    outbox would otherwise keep the commands people type waiting. Channel openings, actions
    and notices are recorded at once. A crash in between re-sends those few messages when
    their lease runs out (delivery is at least once either way).
    """
    return _deliver_claimed(ctx, _claim_batch(ctx, ids))


def deliver_handed_over(ctx: Context, incident_id: str) -> int:
    """Deliver the channel opening of `incident_id` that was written already claimed for
    this process (`Context.hand_over`); 0 if it is no longer this process's to send."""
    with read_connection(ctx.engine) as db:
        row = db.execute(_HANDED_OVER, {"incident": incident_id}).first()
    return _deliver_claimed(ctx, [m.OutboxItem(**row._mapping)] if row is not None else [])


# Core, built once: read for every new incident in a burst. py-spy put 8.4% of the work
# process's time in the ORM query, which also searched the index on state alone then (0010).
_HANDED_OVER = select_core(OUTBOX).where(
    OUTBOX.c.incident_id == bindparam("incident"),
    OUTBOX.c.kind == "open_channel",
    OUTBOX.c.state == "sending",
    OUTBOX.c.attempts == 0,
)


def release_handed_over(ctx: Context, incident_ids: list[str]) -> None:
    """Give up handed-over channel openings that were not sent (a deliverer stopping)."""
    with transaction(ctx.engine) as session:
        session.execute(
            update(m.OutboxItem)
            .where(
                col(m.OutboxItem.incident_id).in_(incident_ids),
                col(m.OutboxItem.kind) == "open_channel",
                col(m.OutboxItem.state) == "sending",
                col(m.OutboxItem.attempts) == 0,
            )
            .values(state="pending", not_before=None)
        )


def _deliver_claimed(ctx: Context, items: list[m.OutboxItem]) -> int:
    delivered = 0
    outcomes: list[tuple[int, dict[str, object]]] = []
    since = time.monotonic()
    try:
        for item in items:
            assert item.id is not None
            sent, values = _deliver_one(ctx, item)
            delivered += sent
            if not outcomes:
                since = time.monotonic()
            outcomes.append((item.id, values))
            if item.kind in RECORD_AT_ONCE or time.monotonic() - since > FINISH_EVERY:
                _settle_then_finish(ctx, outcomes)
                outcomes = []
    finally:
        _settle_then_finish(ctx, outcomes)
    return delivered


def _settle_then_finish(ctx: Context, outcomes: list[tuple[int, dict[str, object]]]) -> None:
    # Settle first: once items read as delivered, the cards they made stale are already
    # redrawn (so whoever waits for "all delivered" sees everything).
    try:
        if isinstance(ctx.chat, SettlingChat):
            ctx.chat.settle()
    finally:
        _finish(ctx, outcomes)


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Pending and due, or claimed by a deliverer that died before finishing (lease over)."""
    due = or_(col(m.OutboxItem.not_before).is_(None), col(m.OutboxItem.not_before) <= now)
    stale = and_(col(m.OutboxItem.state) == "sending", col(m.OutboxItem.not_before) <= now)
    # The IN repeats what the OR says so that SQLite searches an index on (kind, state) for
    # both states: without it, a read of due openings read every opening ever made.
    live = col(m.OutboxItem.state).in_(("pending", "sending"))
    return and_(live, or_(and_(col(m.OutboxItem.state) == "pending", due), stale))


def _claim(ctx: Context, item_id: int) -> bool:
    return bool(_claim_batch(ctx, [item_id]))


def _claim_batch(ctx: Context, ids: list[int]) -> list[m.OutboxItem]:
    """Claim what is still claimable of `ids` in one write, in id order.

    The claim is a lease: an item whose deliverer dies mid-call becomes claimable again when
    it runs out, so it is delivered late (at least once) rather than never.
    """
    now = ctx.now()
    with transaction(ctx.engine) as session:
        rows = session.execute(
            update(m.OutboxItem)
            .where(col(m.OutboxItem.id).in_(ids), _claimable(now))
            .values(state="sending", not_before=now + CLAIM_LEASE)
            .returning(
                col(m.OutboxItem.id),
                col(m.OutboxItem.incident_id),
                col(m.OutboxItem.kind),
                col(m.OutboxItem.body),
                col(m.OutboxItem.attempts),
                col(m.OutboxItem.created_at),
            )
        ).all()
    claimed = [
        m.OutboxItem(
            id=r.id,
            incident_id=r.incident_id,
            kind=r.kind,
            body=r.body,
            attempts=r.attempts,
            created_at=r.created_at,
            state="sending",
        )
        for r in rows
    ]
    return sorted(claimed, key=lambda item: item.id or 0)


def _deliver_one(ctx: Context, item: m.OutboxItem) -> tuple[int, dict[str, object]]:
    """Send one item; (1 if it went out, else 0), and the outcome to record on its row."""
    assert item.id is not None
    body = json.loads(item.body)
    try:
        if item.kind == "execute":
            _execute(ctx, item, body)
        elif item.kind == "notice":
            _notice(ctx, item, body)
        else:
            _chat(ctx, item, body)
    except Exception as exc:
        log.warning(
            "delivery of outbox item %s (%s) failed: %s", item.id, item.kind, type(exc).__name__
        )
        retry_after = exc.retry_after if isinstance(exc, DeliveryFailed) else None
        attempts = item.attempts + (0 if retry_after is not None else 1)
        return 0, {
            "state": "failed" if attempts >= MAX_ATTEMPTS else "pending",
            "attempts": attempts,
            "last_error": f"{type(exc).__name__}: {exc}"[:500],
            "not_before": None
            if retry_after is None
            else ctx.now() + timedelta(seconds=retry_after),
        }
    return 1, {
        "state": "delivered",
        "attempts": item.attempts + 1,
        "delivered_at": ctx.now(),
        "not_before": None,
    }


def _finish(ctx: Context, outcomes: list[tuple[int, dict[str, object]]]) -> None:
    """Record outcomes: one statement per shape of outcome (delivered, failed), executed for
    all the items of that shape at once."""
    if not outcomes:
        return
    shapes: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for item_id, values in outcomes:
        shapes.setdefault(tuple(sorted(values)), []).append({"item": item_id, **values})
    # In one transaction with the other senders' outcomes and openings' writes meanwhile.
    small_writes.write(ctx.engine, *((_outcome_statement(n), rows) for n, rows in shapes.items()))


@functools.cache
def _outcome_statement(names: tuple[str, ...]) -> Update:
    return (
        update(OUTBOX)
        .where(OUTBOX.c.id == bindparam("item"))
        .values({name: bindparam(name) for name in names})
    )


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


def _notice(ctx: Context, item: m.OutboxItem, body: dict[str, object]) -> None:
    """An approved notice to one recipient (service/notice_delivery.py does the checking)."""
    attempt = item.attempts + 1
    deliver_notice(ctx, dict(body), attempt=attempt, final=attempt >= MAX_ATTEMPTS)
