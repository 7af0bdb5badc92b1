"""The opener process: a new incident's channel is opened in a process of its own.

Served over HTTP, the work process records a declaration and hands the channel opening over
(`Context.hand_over`). In one interpreter the openings then shared a core with everything
else the burst left behind (the notes, the role pages, the announcements): in a burst of
2,000 commands, 200 of them declarations, channels were ready 3.5-4.8 s after their
declaration (p99), while the machine's second core sat idle once the burst was over. Here
they get an interpreter, and so a core, of their own:

    start_opener        the front starts it beside the work process (a daemonic work process
                        may not start processes); the two talk over one pipe
    OpenerLink          the work process's end: `hand_over` sends an incident id; each
                        opening done comes back and kicks the work process's deliverer, so
                        the pages and posts that waited for the channel go out at once
    opener_main         the opener process: threads that send handed-over openings
                        (outbox.deliver_handed_over), as the work process's deliverer did

Nothing changes in what is written: the opening was claimed for delivery when it was
written, and it is sent, retried and recorded exactly as before. If the opener process is
gone, the link hands openings to the work process's own deliverer instead; an opening it was
sending when it died is sent again when its claim runs out (outbox.CLAIM_LEASE).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import queue
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from commandpost.chat.slack.child_process import SWITCH_INTERVAL, lower_priority, receive
from commandpost.service import outbox
from commandpost.storage.engine import FOLLOW_UP, urgent_writes

if TYPE_CHECKING:
    from commandpost.chat.slack.workproc import WorkSpec

log = logging.getLogger(__name__)
# Threads sending openings side by side. Each mostly waits: on Slack, then on the database
# writer for its bookkeeping (0.5-2 s in a burst). Measured with 200 declarations at once:
# with 24, openings waited 2.1 s (p50) for a free thread and the last channel was ready
# 6.0 s after its declaration; with 128, 0.003 s and 4.7 s.
OPENERS = 128
READY = "ready"
DONE = "done"  # the opener process is done with an opening (sent, or failed and kept)


def start_opener(spec: WorkSpec) -> tuple[Any, Connection]:
    """Start the opener process (not waiting for it); its process and the pipe's other end,
    for the work process."""
    spawn = multiprocessing.get_context("spawn")
    theirs, ours = spawn.Pipe()
    process = spawn.Process(
        target=opener_main, args=(ours, spec), name="commandpost-opener", daemon=True
    )
    process.start()
    ours.close()
    return process, theirs


class OpenerLink:
    """The work process's end of the pipe to the opener process."""

    def __init__(
        self, conn: Connection, *, fallback: Callable[[str], None], opened: Callable[[], None]
    ) -> None:
        self._conn = conn
        self._fallback = fallback
        self._opened = opened
        self._outgoing: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._gone = threading.Event()
        self._lock = threading.Lock()
        self._unopened: set[str] = set()  # sent, and not yet said to be opened
        self._threads = [
            threading.Thread(target=self._send, name="opener-send", daemon=True),
            threading.Thread(target=self._listen, name="opener-listen", daemon=True),
        ]

    def start(self, timeout: float) -> OpenerLink:
        """Wait for the opener process to say it is ready (else openings stay here)."""
        try:
            ready = self._conn.poll(timeout) and self._conn.recv() == READY
        except (EOFError, OSError):
            ready = False
        if not ready:
            log.error("the opener process did not start: channels are opened here")
            self._lost()
        for thread in self._threads:
            thread.start()
        return self

    def hand_over(self, incident_id: str) -> None:
        """`Context.hand_over`: never blocks the declaration that committed it."""
        if self._gone.is_set():
            self._fallback(incident_id)
        else:
            self._outgoing.put(incident_id)

    def stop(self) -> None:
        """After the last hand-over: the opener process finishes what it has, then ends."""
        self._outgoing.put(None)
        for thread in self._threads:
            thread.join(timeout=60)
        self._conn.close()

    def _send(self) -> None:
        while (incident_id := self._outgoing.get()) is not None:
            with self._lock:
                sending = not self._gone.is_set()
                if sending:
                    self._unopened.add(incident_id)
            if not sending:
                self._fallback(incident_id)
                continue
            try:
                self._conn.send((incident_id,))
            except (OSError, ValueError):
                self._lost()
        if not self._gone.is_set():
            try:
                self._conn.send(None)
            except (OSError, ValueError):
                self._lost()

    def _listen(self) -> None:
        while (message := receive(self._conn)) is not None:
            if message[0] == DONE:
                with self._lock:
                    self._unopened.discard(message[1])
                self._opened()
        self._lost()  # closed by the opener process once it stopped (or died)

    def _lost(self) -> None:
        """From now on channels are opened here, those the opener process had and did not
        open too (it may have died halfway through one: delivery is at least once)."""
        with self._lock:
            if self._gone.is_set():
                return
            self._gone.set()
            unopened, self._unopened = sorted(self._unopened), set()
        if unopened:
            log.error("the opener process is gone: %s channels are opened here", len(unopened))
        for incident_id in unopened:
            self._fallback(incident_id)


def opener_main(conn: Connection, spec: WorkSpec) -> None:
    """The opener process: send each handed-over opening until the work process says stop
    (or is gone), then finish those already handed over."""
    logging.basicConfig(level=spec.log_level)
    sys.setswitchinterval(SWITCH_INTERVAL)
    lower_priority(spec.nice)
    ctx = spec.context(spec)
    waiting: queue.SimpleQueue[str | None] = queue.SimpleQueue()
    replying = threading.Lock()

    def reply(message: Any) -> None:
        # The work process may be gone; what was opened is recorded all the same.
        with replying, contextlib.suppress(OSError, ValueError):
            conn.send(message)

    def open_channels() -> None:
        while (incident_id := waiting.get()) is not None:
            try:
                with urgent_writes(FOLLOW_UP):
                    outbox.deliver_handed_over(ctx, incident_id)
            except Exception:
                log.exception("opening the channel of %s failed", incident_id)
            reply((DONE, incident_id))

    threads = [
        threading.Thread(target=open_channels, name=f"opener-{n}", daemon=True)
        for n in range(OPENERS)
    ]
    for thread in threads:
        thread.start()
    reply(READY)
    try:
        while (message := receive(conn)) is not None:
            waiting.put(message[0])
    finally:
        for _ in threads:
            waiting.put(None)  # after everything handed over
        for thread in threads:
            thread.join(timeout=60)
        conn.close()
        ctx.engine.dispose()
