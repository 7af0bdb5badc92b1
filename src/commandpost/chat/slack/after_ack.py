"""The threads that run listeners' work once Slack has its ack."""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from contextlib import nullcontext

from commandpost.chat.slack import listeners as ls
from commandpost.chat.slack.precedence import Precedence
from commandpost.service.origin import carried
from commandpost.storage.engine import urgent_writes

log = logging.getLogger(__name__)
ROUTINE, URGENT, REPLY = "routine", "urgent", "reply"  # the three pools


class AfterAck:
    """The threads that run listeners' work once Slack has its ack (see `Listeners`).

    Urgent work (declaring, deciding a gate, taking a role, containment, notices) has threads
    of its own, and its database writes go ahead of routine ones: when a burst of notes and
    status lines queues up, a new incident or an approval does not wait behind it. Within
    each kind, first come, first served; work given the same `key` (the commands of one
    incident) also runs in that order, one at a time: on a pool, two notes typed a moment
    apart could otherwise be recorded the other way round.

    Urgent work counts in `precedence` from when it is submitted until it ends, and routine
    work waits there for it before it starts (see precedence.py). Replies do not wait: a
    person is waiting for them.
    """

    def __init__(
        self,
        threads: int = 8,
        *,
        urgent_threads: int = 4,
        reply_threads: int = 4,
        precedence: Precedence | None = None,
    ) -> None:
        self.precedence = precedence or Precedence()
        self._routine: queue.SimpleQueue[ls.Work | None] = queue.SimpleQueue()
        self._urgent: queue.SimpleQueue[ls.Work | None] = queue.SimpleQueue()
        self._replies: queue.SimpleQueue[ls.Work | None] = queue.SimpleQueue()
        pools = (
            (self._routine, ROUTINE, "slack-work", threads),
            (self._urgent, URGENT, "slack-urgent", urgent_threads),
            (self._replies, REPLY, "slack-reply", reply_threads),
        )
        self._threads = [
            threading.Thread(target=self._run, args=(q, kind), name=f"{name}-{n}", daemon=True)
            for q, kind, name, count in pools
            for n in range(count)
        ]
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)  # no key has work waiting or running
        # Per (pool, key): the work waiting for the one of that key queued or running.
        self._lines: dict[tuple[int, str], deque[ls.Work]] = {}
        for thread in self._threads:
            thread.start()

    def submit(
        self, work: ls.Work, *, urgent: bool = False, reply: bool = False, key: str = ""
    ) -> None:
        # A thread starts with no context: the work takes its origin along (service.origin).
        waiting = self._queue(urgent=urgent, reply=reply)
        work = carried(work)
        if urgent and not reply:
            work = self.precedence.counted(work)
        if not key:
            waiting.put(work)
            return
        line = (id(waiting), key)
        with self._lock:
            if line in self._lines:
                self._lines[line].append(work)
                return
            self._lines[line] = deque()
        waiting.put(self._in_turn(work, line, waiting))

    def _in_turn(
        self, work: ls.Work, line: tuple[int, str], waiting: queue.SimpleQueue[ls.Work | None]
    ) -> ls.Work:
        """`work`, then the next of its key goes to the back of the queue (one at a time)."""

        def run() -> None:
            try:
                work()
            finally:
                with self._lock:
                    queued = self._lines[line]
                    following = queued.popleft() if queued else None
                    if following is None:
                        del self._lines[line]
                        if not self._lines:
                            self._drained.notify_all()
                if following is not None:
                    waiting.put(self._in_turn(following, line, waiting))

        return run

    def _queue(self, *, urgent: bool, reply: bool) -> queue.SimpleQueue[ls.Work | None]:
        return self._replies if reply else self._urgent if urgent else self._routine

    def _run(self, waiting: queue.SimpleQueue[ls.Work | None], kind: str) -> None:
        while (work := waiting.get()) is not None:
            if kind == ROUTINE:
                self.precedence.wait_turn()
            try:
                with urgent_writes() if kind == URGENT else nullcontext():
                    work()
            except Exception:
                log.exception("work after an ack failed")

    def stop(self) -> None:
        """Finish the work already acked (its changes and outbox rows commit), then stop."""
        # Replies last: the work still queued may answer its user.
        work = [t for t in self._threads if not t.name.startswith("slack-reply")]
        replies = [t for t in self._threads if t.name.startswith("slack-reply")]
        with self._drained:
            # A key's next piece is queued only when the one before it ends: all of them
            # must be in the queues before the stops, which go after everything queued.
            if not self._drained.wait_for(lambda: not self._lines, timeout=30):
                log.error("stopping with work of %s incidents not done", len(self._lines))
        for thread in work:
            urgent = thread.name.startswith("slack-urgent")
            self._queue(urgent=urgent, reply=False).put(None)  # after everything queued
        for thread in work:
            thread.join(timeout=30)
        for _ in replies:
            self._replies.put(None)
        for thread in replies:
            thread.join(timeout=30)
