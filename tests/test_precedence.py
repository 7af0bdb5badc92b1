"""Urgent work and channel openings go first: while any is queued or running, routine work
(notes, status lines) and other deliveries (pages, posts) wait before they start, for at most
the precedence's patience; replies to a person never wait."""

from __future__ import annotations

import threading
import time

import pytest

from commandpost.chat.console import ConsoleChat
from commandpost.chat.slack.after_ack import AfterAck
from commandpost.chat.slack.app import Deliverer
from commandpost.chat.slack.precedence import Precedence
from commandpost.core.vocabulary import IncidentClass
from commandpost.service import outbox
from commandpost.service.context import Context
from commandpost.service.incidents import add_note
from commandpost.service.ports import Clock

from .support import declare_incident
from .writersupport import wait_until

SETTLE = 0.3  # seconds given to work that must not start, to show that it did not


def test_counted_work_is_pending_until_it_ends_even_when_it_fails() -> None:
    first = Precedence()
    seen: list[int] = []

    def fails() -> None:
        seen.append(first.pending())
        raise RuntimeError("boom")

    work = first.counted(fails)
    assert first.pending() == 1  # from when it is queued
    with pytest.raises(RuntimeError):
        work()
    assert seen == [1]
    assert first.pending() == 0
    assert first.wait_turn() is True


def test_the_count_never_goes_below_zero() -> None:
    first = Precedence()
    first.add(2)
    first.done(3)
    assert first.pending() == 0
    first.add()
    assert first.pending() == 1


def test_a_waiter_is_woken_when_the_last_urgent_piece_ends() -> None:
    first = Precedence(patience=30)
    first.add(2)
    turns: list[bool] = []
    waiter = threading.Thread(target=lambda: turns.append(first.wait_turn()))
    waiter.start()
    first.done()
    waiter.join(SETTLE)
    assert waiter.is_alive()  # one is still pending
    first.done()
    waiter.join(10)
    assert turns == [True]


def test_patience_runs_out_rather_than_starving_other_work() -> None:
    first = Precedence(patience=0.05)
    first.add()
    assert first.wait_turn() is False
    assert first.pending() == 1


def test_routine_work_waits_for_urgent_work_and_replies_do_not() -> None:
    pool = AfterAck(threads=1, urgent_threads=1, precedence=Precedence(patience=30))
    held, started = threading.Event(), threading.Event()
    done: list[str] = []

    def declaring() -> None:
        started.set()
        held.wait()
        done.append("declare")

    pool.submit(declaring, urgent=True)
    assert started.wait(10)
    pool.submit(lambda: done.append("note"))
    pool.submit(lambda: done.append("reply"), reply=True)
    wait_until(lambda: "reply" in done, "the reply waited for the declaration")
    time.sleep(SETTLE)
    assert done == ["reply"]  # the note's thread is free, and waits
    held.set()
    pool.stop()
    assert done == ["reply", "declare", "note"]


def test_routine_work_runs_once_patience_runs_out() -> None:
    pool = AfterAck(threads=1, urgent_threads=1, precedence=Precedence(patience=0.05))
    held = threading.Event()
    done: list[str] = []
    pool.submit(held.wait, urgent=True)
    pool.submit(lambda: done.append("note"))
    wait_until(lambda: done == ["note"], "the note waited past its patience")
    held.set()
    pool.stop()


class HeldOpenings(ConsoleChat):
    """Opens a channel only once `release` is set."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.opening = threading.Event()
        self.release = threading.Event()

    def open_channel(self, *, name: str, topic: str, incident_id: str) -> None:
        self.opening.set()
        assert self.release.wait(30)
        super().open_channel(name=name, topic=topic, incident_id=incident_id)


@pytest.fixture
def chat(clock: Clock) -> HeldOpenings:
    return HeldOpenings(clock)


def test_other_deliveries_wait_while_a_channel_is_being_opened(
    ctx: Context, chat: HeldOpenings
) -> None:
    chat.release.set()
    earlier = declare_incident(ctx, "Open already", IncidentClass.HARMFUL_CONTENT)
    while outbox.deliver(ctx):
        pass
    chat.release.clear()
    first = Precedence(patience=30)
    deliverer = Deliverer(ctx, interval=0.05, lanes=3, precedence=first).start()
    ctx.hand_over = deliverer.hand_over
    try:
        held = declare_incident(ctx, "Held open", IncidentClass.DATA_LEAKAGE)
        assert chat.opening.wait(10)
        assert first.pending() == 1  # the handed-over opening, being sent
        add_note(ctx, earlier, actor="alice", text="posted only after the opening")
        deliverer.kick()
        time.sleep(SETTLE)
        assert not posted(chat, "posted only after the opening")
        chat.release.set()
        wait_until(lambda: posted(chat, "posted only after the opening"), "the note was lost")
        assert first.pending() == 0
    finally:
        chat.release.set()
        deliverer.stop()
    opened = [line.incident_id for line in chat.lines if "channel opened" in line.text]
    assert opened == [earlier, held]


def posted(chat: ConsoleChat, text: str) -> bool:
    return any(text in line.text for line in chat.lines)
