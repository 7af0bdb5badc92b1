"""Which work goes first when one process has more to do than CPU to do it with.

Urgent work (declaring an incident, deciding a gate, taking a role) and the opening of a new
incident's channel go ahead of everything else: while any of it is queued or running, the
threads that record notes and status lines and the senders of other Slack messages (pages,
announcements, card refreshes) wait before they start their next piece, for at most
`patience` seconds, so a long burst slows them down but never stops them.

Why: in a burst the work process is short of CPU, and Python's threads share it in turns
whatever queue they came from; ordering the queues and the database writes was not enough.
Traced per thread in bench/slack_ack.py (stop 21), a declaration held SQLite's write lock
34-54 ms for 5-10 ms of CPU while the burst lasted, the rest waiting to be run; with
declarations only, the other deliveries of the same incidents (three pages, an
announcement, a reply, a card refresh) took 2.5 times the CPU of the openings. Four runs
alternated with this stop's starting code: channel ready p50 1.7-2.1 s, p99 2.1-2.4 s,
against 2.1-2.5 s and 2.2-2.6 s (before channel_setup.py waited for the channel's row, when
most of the bench's notes were refused at their ack and so cost little).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

PATIENCE = 5.0  # seconds a note or a page waits at most for urgent work before it starts


class Precedence:
    """Counts urgent work queued or running; other work waits for none to be left."""

    def __init__(self, *, patience: float = PATIENCE) -> None:
        self.patience = patience
        self._settled = threading.Condition()
        self._pending = 0

    def add(self, count: int = 1) -> None:
        """`count` pieces of urgent work are queued."""
        if count:
            with self._settled:
                self._pending += count

    def done(self, count: int = 1) -> None:
        """`count` pieces of urgent work have ended (done, failed or dropped)."""
        if count:
            with self._settled:
                self._pending -= count
                if self._pending <= 0:
                    self._pending = 0
                    self._settled.notify_all()

    def pending(self) -> int:
        with self._settled:
            return self._pending

    def wait_turn(self) -> bool:
        """Before other work: wait until no urgent work is left, or `patience` seconds.
        True when none is left."""
        with self._settled:
            return self._settled.wait_for(lambda: self._pending == 0, timeout=self.patience)

    def counted(self, work: Callable[[], None]) -> Callable[[], None]:
        """`work`, counted as urgent from now until it ends."""
        self.add()

        def run() -> None:
            try:
                work()
            finally:
                self.done()

        return run
