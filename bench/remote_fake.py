"""The fake Slack Web API (tests/fakeslack.py) in a process of its own, for the benchmarks.

Slack's servers do not run in the process that sends Slack's requests. In the bench's own
process the fake's handler threads took turns at one interpreter lock with the client threads
that time the acks, so every Web API call the app made during a burst (a channel opened, a
reply posted) could hold up a client thread reading its answer, and slowed the fake's own
answers behind the client's sending: both counted against the app measured, not the bare
app, which makes no calls. Here the fake has its own interpreter; the bench asks it what it
recorded over a pipe.

Nor do Slack's servers take this machine's CPU. With `nice`, the fake's process yields its core
to the app and the client whenever they want it: at the client's priority, its threads waking
for each answer took a share of both cores during a burst (measured in stop 24: the app's
declarations were recorded 0.09-0.99 s after their ack at p50 in ten runs, and 14-89 ms in ten
with the fake at nice 19), which the bare app, making no calls, never met. Calls still wait
`latency` before their answer; if the fake is starved, they wait longer, which can only slow
the app measured.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fakeslack import Call, FakeSlack  # noqa: E402

START_TIMEOUT = 60.0  # seconds for the fake's process to import and listen


class RemoteFake:
    """What the benchmarks use of `FakeSlack`, served from a child process."""

    def __init__(
        self, *, latency: float, channels: Sequence[tuple[str, str | None]], nice: int = 0
    ) -> None:
        """`latency`: seconds each call waits before its answer; `channels`: (name, id or
        None) of channels that exist before the run; `nice`: how much lower the fake's CPU
        priority is than the bench's."""
        self._latency = latency
        self._nice = nice
        self._channels = list(channels)
        self._conn: Connection | None = None
        self._process: Any = None
        self._lock = threading.Lock()  # one question at a time on the pipe
        self.base_url = ""
        self.token: str | None = None
        self.pid = 0

    def __enter__(self) -> RemoteFake:
        spawn = multiprocessing.get_context("spawn")
        mine, theirs = spawn.Pipe()
        self._process = spawn.Process(
            target=_serve, args=(theirs, self._latency, self._channels, self._nice), daemon=True
        )
        self._process.start()
        theirs.close()
        if not mine.poll(START_TIMEOUT):
            self._process.kill()
            raise RuntimeError("the fake Slack's process did not start")
        self.base_url, self.token = mine.recv()
        self._conn, self.pid = mine, int(self._process.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._ask("stop")
            self._conn.close()
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()

    def calls(self, method: str | None = None, *, ok: bool | None = None) -> list[Call]:
        found: list[Call] = self._ask("calls", method, ok)
        return found

    def count(self, method: str, *, ok: bool | None = None) -> int:
        counted: int = self._ask("count", method, ok)
        return counted

    def pinned_incident_channels(self) -> list[str]:
        """Ids of the incident channels (inc-…) that have a pin: the ones ready."""
        ready: list[str] = self._ask("pinned")
        return ready

    @property
    def ephemeral(self) -> list[dict[str, Any]]:
        shown: list[dict[str, Any]] = self._ask("ephemeral")
        return shown

    def _ask(self, question: str, *args: Any) -> Any:
        assert self._conn is not None, "the fake is not started"
        with self._lock:
            self._conn.send((question, args))
            return self._conn.recv()


def _serve(
    conn: Connection, latency: float, channels: list[tuple[str, str | None]], nice: int
) -> None:
    if nice > 0:
        os.nice(nice)  # before the server's threads start: they inherit it
    with FakeSlack() as fake:
        for name, channel_id in channels:
            fake.add_channel(name, channel_id=channel_id)
        fake.set_latency(latency)
        conn.send((fake.base_url, fake.token))
        while True:
            try:
                question, args = conn.recv()
            except EOFError:
                return  # the bench is gone
            if question == "stop":
                conn.send(None)
                return
            conn.send(_answer(fake, question, args))


def _answer(fake: FakeSlack, question: str, args: tuple[Any, ...]) -> Any:
    if question == "calls":
        method, ok = args
        return fake.calls(method, ok=ok)
    if question == "count":
        method, ok = args
        return len(fake.calls(method, ok=ok))
    if question == "pinned":
        # list() of a dict's values runs without a thread switch: no need for the fake's lock.
        found = list(fake.channels.values())
        return [c.id for c in found if c.name.startswith("inc-") and c.pins]
    if question == "ephemeral":
        return list(fake.ephemeral)
    raise ValueError(f"the fake was asked {question!r}")
