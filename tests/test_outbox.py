"""The outbox: intents survive failing chat and executor calls and are delivered once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, select

from commandpost.chat.console import ConsoleChat
from commandpost.core.gates import Decision
from commandpost.core.policy import Person
from commandpost.core.vocabulary import IncidentClass, Severity
from commandpost.service import gates, outbox
from commandpost.service.context import Context
from commandpost.service.incidents import add_note, get_incident
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m

from .support import RecordingExecutor, contain, declare_incident, staff


class ChatDown(Exception):
    pass


@dataclass
class FlakyChat:
    """A chat service whose channel posts fail `failures` times, then work."""

    inner: ConsoleChat
    failures: int
    attempts: int = 0

    def open_channel(self, *, name: str, topic: str, incident_id: str) -> None:
        self.inner.open_channel(name=name, topic=topic, incident_id=incident_id)

    def post(
        self, *, channel: str, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise ChatDown("503 from the chat service")
        self.inner.post(channel=channel, text=text, incident_id=incident_id)

    def direct(
        self, *, person: Person, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        self.inner.direct(person=person, text=text, incident_id=incident_id)


def new_incident(ctx: Context) -> str:
    return declare_incident(
        ctx, "Model claims to be a human agent", IncidentClass.DECEPTIVE_OUTPUT, Severity.SEV2
    )


def flaky_incident(
    make_ctx: Callable[..., Context], chat: ConsoleChat, failures: int
) -> tuple[Context, FlakyChat, str]:
    """A context whose chat fails the first `failures` channel posts, and a new incident."""
    flaky = FlakyChat(chat, failures=failures)
    ctx = make_ctx()
    ctx.chat = flaky
    return ctx, flaky, new_incident(ctx)


def items(ctx: Context, kind: str | None = None) -> list[m.OutboxItem]:
    with Session(ctx.engine) as s:
        query = select(m.OutboxItem).order_by(col(m.OutboxItem.id))
        if kind is not None:
            query = query.where(m.OutboxItem.kind == kind)
        return list(s.exec(query))


def note_items(ctx: Context) -> list[m.OutboxItem]:
    return [i for i in items(ctx, "post") if "Note from carol" in i.body]


def test_failing_chat_keeps_the_intent_and_delivers_once(
    make_ctx: Callable[..., Context], chat: ConsoleChat
) -> None:
    ctx, flaky, incident_id = flaky_incident(make_ctx, chat, failures=0)
    outbox.deliver(ctx)
    flaky.failures = 3
    add_note(ctx, incident_id, actor="carol", text="reproduced with prompt #17")
    channel = "#" + get_incident(ctx, incident_id).channel

    for attempt in (1, 2, 3):
        assert outbox.deliver(ctx) == 0  # each pass tries each item once
        [item] = note_items(ctx)
        assert (item.state, item.attempts) == ("pending", attempt)
        assert item.last_error == "ChatDown: 503 from the chat service"
        assert not any("reproduced" in t for t in chat.messages_to(channel))

    assert outbox.deliver(ctx) == 1
    [item] = note_items(ctx)
    assert (item.state, item.attempts) == ("delivered", 4)
    assert item.delivered_at is not None
    assert chat.messages_to(channel).count("Note from carol: reproduced with prompt #17") == 1
    assert outbox.deliver(ctx) == 0
    assert flaky.attempts == 2 + 4  # the declaration's two posts, then four tries


def test_a_message_that_never_goes_through_is_parked(
    make_ctx: Callable[..., Context], chat: ConsoleChat
) -> None:
    ctx, flaky, incident_id = flaky_incident(make_ctx, chat, failures=0)
    outbox.deliver(ctx)
    add_note(ctx, incident_id, actor="carol", text="poison")
    flaky.failures = 10**6
    for _ in range(outbox.MAX_ATTEMPTS + 3):
        outbox.deliver(ctx)
    [item] = note_items(ctx)
    assert (item.state, item.attempts) == ("failed", outbox.MAX_ATTEMPTS)
    assert flaky.attempts == 2 + outbox.MAX_ATTEMPTS  # no retries past the limit


def test_other_messages_still_flow_while_one_fails(
    make_ctx: Callable[..., Context], chat: ConsoleChat
) -> None:
    ctx, _, _ = flaky_incident(make_ctx, chat, failures=1)
    outbox.deliver(ctx)
    # The first channel post failed; the channel opened and the pages went out anyway.
    assert len(chat.channels) == 1
    assert len([line for line in chat.lines if line.where.startswith("DM @")]) == 3
    pending = [i for i in items(ctx) if i.state == "pending"]
    assert len(pending) == 1 and pending[0].kind == "post"
    outbox.deliver(ctx)
    assert [i.state for i in items(ctx)] == ["delivered"] * len(items(ctx))


def test_executor_failure_is_posted_and_retried_once_more(
    make_ctx: Callable[..., Context], chat: ConsoleChat
) -> None:
    executor = RecordingExecutor(failures=2, detail="rolled back")
    ctx = make_ctx(executor)
    incident_id = new_incident(ctx)
    gate_id = contain(ctx, incident_id, "rollback_model", {"model": "agent", "to_version": "v3"})
    staff(ctx, incident_id, "erin")
    gates.decide(ctx, gate_id, actor="erin", decision=Decision.APPROVE)
    channel = "#" + get_incident(ctx, incident_id).channel

    for attempt in (1, 2):
        outbox.deliver(ctx)
        [item] = items(ctx, "execute")
        assert (item.state, item.attempts) == ("pending", attempt)
        assert item.last_error == "DeliveryFailed: control plane answered HTTP 502"
        failures = [t for t in chat.messages_to(channel) if "rollback_model FAILED" in t]
        assert len(failures) == attempt  # the failure reaches the responders each time
        assert "stays queued and will be retried" in failures[-1]
        assert get_incident(ctx, incident_id).status == "declared"

    outbox.deliver(ctx)
    assert executor.gate_ids == [gate_id] * 3
    [item] = items(ctx, "execute")
    assert (item.state, item.attempts) == ("delivered", 3)
    assert any("rollback_model executed (rolled back)" in t for t in chat.messages_to(channel))
    assert get_incident(ctx, incident_id).status == "contained"
    outbox.deliver(ctx)
    assert len(executor.calls) == 3
    with Session(ctx.engine) as s:
        query = select(m.AuditEvent.kind).where(col(m.AuditEvent.kind).startswith("action."))
        kinds = list(s.exec(query.order_by(col(m.AuditEvent.seq))))
    assert kinds == ["action.failed", "action.failed", "action.executed"]


def test_a_claimed_item_is_not_delivered_again(ctx: Context, chat: ConsoleChat) -> None:
    new_incident(ctx)
    last = items(ctx)[-1]
    assert last.id is not None and last.kind != "open_channel"
    assert outbox._claim(ctx, last.id)
    assert not outbox._claim(ctx, last.id)  # a second worker loses the claim
    delivered = outbox.deliver(ctx)
    assert delivered == len(items(ctx)) - 1
    assert items(ctx)[-1].state == "sending"


def test_an_incidents_items_wait_for_its_channel_to_open(ctx: Context, chat: ConsoleChat) -> None:
    new_incident(ctx)
    opening = items(ctx, "open_channel")[0]
    assert opening.id is not None
    assert outbox.due_items(ctx)[0].kind == "open_channel"
    assert outbox._claim(ctx, opening.id)  # being opened by another deliverer
    assert outbox.due_items(ctx) == []
    assert outbox.deliver(ctx) == 0
    assert outbox.deliver_items(ctx, [opening.id]) == 0  # not claimable twice either


def test_a_claim_whose_deliverer_died_is_delivered_after_the_lease(
    ctx: Context, chat: ConsoleChat, clock: ManualClock
) -> None:
    new_incident(ctx)
    last = items(ctx)[-1]
    assert last.id is not None
    assert outbox._claim(ctx, last.id)  # a deliverer claims it, then dies mid-call
    outbox.deliver(ctx)
    assert items(ctx)[-1].state == "sending"
    clock.advance(outbox.CLAIM_LEASE + timedelta(seconds=1))
    assert outbox.deliver(ctx) == 1
    assert items(ctx)[-1].state == "delivered"
    assert items(ctx)[-1].attempts == 1
    assert outbox.deliver(ctx) == 0  # delivered once, not again


def test_executor_that_never_recovers_is_given_up_loudly(
    make_ctx: Callable[..., Context], chat: ConsoleChat
) -> None:
    executor = RecordingExecutor(failures=10**6)
    ctx = make_ctx(executor)
    incident_id = new_incident(ctx)
    gate_id = contain(ctx, incident_id, "rollback_model", {"model": "a", "to_version": "b"})
    staff(ctx, incident_id, "erin")
    gates.decide(ctx, gate_id, actor="erin", decision=Decision.APPROVE)
    for _ in range(outbox.MAX_ATTEMPTS + 2):
        outbox.deliver(ctx)
    assert len(executor.calls) == outbox.MAX_ATTEMPTS
    [item] = items(ctx, "execute")
    assert item.state == "failed"
    [gate] = gates.list_gates(ctx, incident_id)
    assert gate.execution == "failed"
    channel = "#" + get_incident(ctx, incident_id).channel
    failures = [t for t in chat.messages_to(channel) if "rollback_model FAILED" in t]
    assert len(failures) == outbox.MAX_ATTEMPTS
    assert all("will be retried" in t for t in failures[:-1])
    assert f"GAVE UP after {outbox.MAX_ATTEMPTS} attempts" in failures[-1]
