"""The background deliverer: a free sender takes the next incident with items waiting, so an
incident's messages keep their order and one busy channel never holds up another's set-up."""

from __future__ import annotations

import threading
import time

from commandpost.chat.console import ConsoleChat
from commandpost.chat.slack.app import Deliverer
from commandpost.core.vocabulary import IncidentClass
from commandpost.service import outbox
from commandpost.service.incidents import add_note
from commandpost.service.ports import ManualClock

from .conftest import MakeCtx
from .support import declare_incident

SLOW = 0.05  # seconds each message to the busy incident takes, as a slow Slack would


class SlowChannel(ConsoleChat):
    """The chat edge: messages for one incident take SLOW seconds; each post is timed."""

    def __init__(self, clock: ManualClock, *, slow_incident: str) -> None:
        super().__init__(clock)
        self.slow_incident = slow_incident
        self.posted: list[tuple[float, str | None, str]] = []
        self._lock = threading.Lock()

    def post(
        self, *, channel: str, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        if incident_id == self.slow_incident:
            time.sleep(SLOW)
        with self._lock:
            self.posted.append((time.monotonic(), incident_id, text))
            super().post(channel=channel, text=text, incident_id=incident_id, card=card)


def settled(check: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_a_new_incident_is_not_held_up_by_another_channels_backlog(
    make_ctx: MakeCtx, clock: ManualClock
) -> None:
    ctx = make_ctx()
    busy = declare_incident(ctx, "Busy channel", IncidentClass.HARMFUL_CONTENT)
    while outbox.deliver(ctx):  # the busy incident's channel is open before the burst
        pass
    chat = ctx.chat = SlowChannel(clock, slow_incident=busy)
    for n in range(80):
        add_note(ctx, busy, actor="alice", text=f"update {n:02d}")
    fresh = declare_incident(ctx, "Fresh incident", IncidentClass.DATA_LEAKAGE)

    deliverer = Deliverer(ctx, interval=0.1, lanes=1).start()
    try:
        deliverer.kick()
        assert settled(lambda: any(i == fresh for _, i, _ in chat.posted))
        fresh_at = max(at for at, i, _ in chat.posted if i == fresh)
        assert settled(lambda: sum(1 for _, i, _ in chat.posted if i == busy) >= 80)
    finally:
        deliverer.stop()
    busy_notes = [(at, text) for at, i, text in chat.posted if i == busy and "update" in text]
    # One sender: it takes turns between incidents (a batch each), so the fresh incident's
    # channel was served while the busy one still had most of its notes to send (80 x 50 ms).
    assert sum(1 for at, _ in busy_notes if at > fresh_at) > 40
    # ...and the busy incident's notes went out in the order they were made.
    numbers = [int(text.rsplit("update ", 1)[1][:2]) for _, text in busy_notes]
    assert numbers == sorted(numbers) == list(range(80))
