"""A new incident's channel opening is written already claimed by the process that declared
it and handed to that process's deliverer once the declaration commits (Context.hand_over):
no read of the outbox and no claim stand between a declaration and its channel. If that
process stops or dies, the opening goes back to everyone (at once, or when the lease ends)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from commandpost.chat.console import ConsoleChat
from commandpost.chat.slack.app import Deliverer
from commandpost.core.vocabulary import IncidentClass
from commandpost.service import outbox
from commandpost.service.context import Context
from commandpost.service.incidents import add_note, declare
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m
from commandpost.storage.engine import transaction

from .support import declaration, declare_incident


def opening_of(ctx: Context, incident_id: str) -> m.OutboxItem:
    with Session(ctx.engine) as s:
        query = select(m.OutboxItem).where(
            m.OutboxItem.incident_id == incident_id, m.OutboxItem.kind == "open_channel"
        )
        (item,) = s.exec(query).all()
        return item


def opened(chat: ConsoleChat, incident_id: str) -> bool:
    return any(
        line.incident_id == incident_id and "channel opened" in line.text for line in chat.lines
    )


@pytest.fixture
def handed(ctx: Context) -> list[str]:
    got: list[str] = []
    ctx.hand_over = got.append
    return got


def test_the_opening_is_claimed_when_written_and_handed_over_after_commit(
    ctx: Context, chat: ConsoleChat, handed: list[str], clock: ManualClock
) -> None:
    incident_id = declare_incident(ctx, "Handed over", IncidentClass.HARMFUL_CONTENT)
    assert handed == [incident_id]
    item = opening_of(ctx, incident_id)
    assert item.state == "sending" and item.attempts == 0
    assert item.not_before == clock.now() + outbox.CLAIM_LEASE
    # Nobody else reads it as due while it is this process's to send.
    assert all(d.kind != "open_channel" for d in outbox.due_items(ctx))
    assert outbox.due_items(ctx, openings_only=True) == []
    assert outbox.deliver_handed_over(ctx, incident_id) == 1
    assert opened(chat, incident_id)
    item = opening_of(ctx, incident_id)
    assert (item.state, item.attempts) == ("delivered", 1)
    assert outbox.deliver_handed_over(ctx, incident_id) == 0  # once


def test_a_declaration_rolled_back_hands_nothing_over(ctx: Context, handed: list[str]) -> None:
    with pytest.raises(RuntimeError), transaction(ctx.engine) as session:
        from commandpost.service.incidents import declare_in

        declare_in(session, ctx, declaration("Undone", IncidentClass.HARMFUL_CONTENT))
        raise RuntimeError("a later step of the same transaction failed")
    assert handed == []
    with Session(ctx.engine) as s:
        assert s.exec(select(m.OutboxItem)).all() == []
    # The same session object is not reused, but a fresh declaration still hands over.
    incident_id = declare(ctx, declaration("Kept", IncidentClass.HARMFUL_CONTENT)).id
    assert handed == [incident_id]


def test_an_opening_whose_process_died_is_sent_by_anyone_after_the_lease(
    ctx: Context, chat: ConsoleChat, handed: list[str], clock: ManualClock
) -> None:
    incident_id = declare_incident(ctx, "Orphaned", IncidentClass.HARMFUL_CONTENT)
    ctx.hand_over = None  # the process that was handed it is gone
    assert outbox.deliver(ctx) == 0
    assert not opened(chat, incident_id)
    clock.advance(outbox.CLAIM_LEASE + timedelta(seconds=1))
    assert outbox.deliver(ctx) >= 1
    assert opened(chat, incident_id)
    assert opening_of(ctx, incident_id).state == "delivered"


def test_released_openings_are_due_again_at_once(
    ctx: Context, chat: ConsoleChat, handed: list[str]
) -> None:
    incident_id = declare_incident(ctx, "Released", IncidentClass.HARMFUL_CONTENT)
    outbox.release_handed_over(ctx, [incident_id])
    item = opening_of(ctx, incident_id)
    assert (item.state, item.not_before) == ("pending", None)
    assert [d.incident_id for d in outbox.due_items(ctx, openings_only=True)] == [incident_id]


def test_the_deliverer_opens_a_handed_over_channel_without_reading_the_outbox(
    ctx: Context, chat: ConsoleChat
) -> None:
    # The reader reads every 60 s unless kicked, and nothing kicks it here.
    deliverer = Deliverer(ctx, interval=60, lanes=3).start()
    ctx.hand_over = deliverer.hand_over
    try:
        time.sleep(0.1)  # past the reader's first read: what follows is not found by one
        incident_id = declare_incident(ctx, "Straight on", IncidentClass.HARMFUL_CONTENT)
        deadline = time.monotonic() + 10
        while not opened(chat, incident_id) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert opened(chat, incident_id)
    finally:
        deliverer.stop()
    assert opening_of(ctx, incident_id).state == "delivered"


def test_other_incidents_items_are_read_while_one_channel_is_being_opened(
    ctx: Context, chat: ConsoleChat
) -> None:
    first = declare_incident(ctx, "Open already", IncidentClass.HARMFUL_CONTENT)
    while outbox.deliver(ctx):
        pass
    add_note(ctx, first, actor="alice", text="still going")
    second = declare_incident(ctx, "Being opened", IncidentClass.DATA_LEAKAGE)
    due = outbox.due_items(ctx)
    assert due[0].incident_id == second and due[0].kind == "open_channel"

    def kinds(incident_id: str) -> list[str]:
        return [d.kind for d in due if d.incident_id == incident_id]

    assert kinds(second) == ["open_channel"]  # its posts and pages wait for it
    assert "post" in kinds(first)
    with Session(ctx.engine) as s:
        waiting = s.exec(
            select(m.OutboxItem).where(
                m.OutboxItem.incident_id == second, col(m.OutboxItem.kind) != "open_channel"
            )
        ).all()
    assert waiting and all(w.state == "pending" for w in waiting)
