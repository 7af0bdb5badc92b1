"""Group commit: writes that arrive while one transaction runs share the next one.

Each thread queues its item (an alert delivery, a declaration, a small write) and waits.
Whichever waiting thread finds no transaction running leads: it takes everything queued (its
own item among it), runs `run_many` in one transaction, hands each thread its own result, and
steps down; the others wake, and one still waiting leads the next batch. A storm so pays one
commit (and, for alerts, one read of its fingerprints) per batch, not per item.

Before taking the queue, a leader waits, at most `gather` seconds, for the requests already
being read and parsed (`arriving`, the alert endpoint's) and for as many items as the last
batch held: without that, the first request back after a commit finds the queue empty of all
but itself and commits alone, and batches alternate between one item and the rest
(measured: most were of one). The wait adapts: when fewer senders come, the batch that timed
out is smaller, and so is the next wait's aim; a lone sender's item goes straight in. Where
nothing is read before an item is queued (declarations, small writes), `gather` is 0: a
batch is what queued while the one before it ran.

Each answer is given only after the transaction with its item committed. When a batch of
several fails, each item is tried again alone, so an item that cannot be handled fails by
itself and the rest are handled as if they had come one by one.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from sqlalchemy import Engine

from commandpost.storage.engine import writes_are_urgent

log = logging.getLogger(__name__)

T = TypeVar("T")  # what a thread queues
R = TypeVar("R")  # what it gets back


@dataclass
class _Slot(Generic[T, R]):
    item: T
    wake: threading.Condition
    done: bool = False
    leads: bool = False  # chosen to lead the next batch
    result: R | None = None
    error: BaseException | None = None


class Arrival(Generic[T, R]):
    """A request on its way in; `ingest` its item, or leave (refused) without one."""

    def __init__(self, commits: GroupCommit[T, R]) -> None:
        self._commits = commits
        self.queued = False

    def ingest(self, item: T) -> R:
        return self._commits.ingest(item, arrival=self)


class GroupCommit(Generic[T, R]):
    """Each waiter is woken for its own reason only: its item's result, or its turn to
    lead; the gathering leader for an arrival. Waking every waiter on every arrival (one
    shared condition) cost a storm more than its commits: eight threads taking turns at the
    GIL to find nothing changed for them."""

    def __init__(
        self, run_many: Callable[[Sequence[T]], list[R]], *, gather: float = 0.004
    ) -> None:
        self._run_many = run_many
        self._gather = gather
        self._lock = threading.Lock()
        self._gathering = threading.Condition(self._lock)  # the leader waits for arrivals
        self._queued: list[_Slot[T, R]] = []
        self._arriving = 0
        self._leading = False
        self._last = 1  # items in the last batch: as many are waited for

    def waiting(self) -> int:
        """Items queued for the next batch (not those in the one running)."""
        with self._lock:
            return len(self._queued)

    @contextmanager
    def arriving(self) -> Iterator[Arrival[T, R]]:
        """Around a request's handling, from before its body is read: a leader waits for it."""
        arrival: Arrival[T, R] = Arrival(self)
        with self._lock:
            self._arriving += 1
        try:
            yield arrival
        finally:
            if not arrival.queued:
                with self._lock:
                    self._arriving -= 1
                    self._gathering.notify()

    def ingest(self, item: T, *, arrival: Arrival[T, R] | None = None) -> R:
        """`item`'s result once its transaction committed (or its error)."""
        slot: _Slot[T, R] = _Slot(item, threading.Condition(self._lock))
        with self._lock:
            self._queued.append(slot)
            if arrival is not None and not arrival.queued:
                arrival.queued = True
                self._arriving -= 1
            self._gathering.notify()
            while self._leading and not slot.done and not slot.leads:
                slot.wake.wait()
            if not slot.done:
                # A thread handed the lead may wake after another took it: it waits on.
                self._leading = True
                for queued in self._queued:
                    queued.leads = False
                deadline = time.monotonic() + self._gather
                while (self._arriving > 0 or len(self._queued) < self._last) and (
                    left := deadline - time.monotonic()
                ) > 0:
                    self._gathering.wait(left)
                batch, self._queued = self._queued, []
                self._last = len(batch)
        if not slot.done:
            try:
                self._run(batch)
            finally:
                self._step_down(batch)
        if slot.error is not None:
            raise slot.error
        return cast(R, slot.result)  # set with `done`

    def _step_down(self, batch: list[_Slot[T, R]]) -> None:
        """Wake the batch's waiters with their results, and hand the lead to the oldest
        item still queued (it came while this batch ran)."""
        with self._lock:
            self._leading = False
            for waiting in batch:
                waiting.wake.notify()
            if self._queued:
                self._queued[0].leads = True
                self._queued[0].wake.notify()

    def _run(self, batch: list[_Slot[T, R]]) -> None:
        try:
            self._settle(batch, self._run_many([s.item for s in batch]))
            return
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error, batch[0].done = exc, True
                return
            log.warning("a batch of %d failed (%s); handling each alone", len(batch), exc)
        for slot in batch:
            try:
                self._settle([slot], self._run_many([slot.item]))
            except Exception as exc:
                slot.error, slot.done = exc, True

    @staticmethod
    def _settle(batch: list[_Slot[T, R]], results: list[R]) -> None:
        for slot, result in zip(batch, results, strict=True):
            slot.result, slot.done = result, True


class PerEngine(Generic[T, R]):
    """One GroupCommit per database engine and write priority, for writes that queue from
    any thread (declarations, small writes). A batch takes the writer's turn at its leader's
    priority, so an urgent item (`urgent_writes`) batches apart from routine ones and never
    waits at their priority. No gather wait: a batch is what queued while the one before it
    ran. `run_many` must find the engine in its items: a commit kept here must not hold its
    engine (the dictionary's key) alive."""

    def __init__(self, run_many: Callable[[Sequence[T]], list[R]]) -> None:
        self._run_many = run_many
        self._lock = threading.Lock()
        self._commits: weakref.WeakKeyDictionary[Engine, dict[bool, GroupCommit[T, R]]] = (
            weakref.WeakKeyDictionary()
        )

    def commits(self, engine: Engine, *, urgent: bool | None = None) -> GroupCommit[T, R]:
        """The GroupCommit for `engine` at `urgent` (by default, this thread's priority)."""
        urgent = writes_are_urgent() if urgent is None else urgent
        with self._lock:
            by_priority = self._commits.setdefault(engine, {})
            commits = by_priority.get(urgent)
            if commits is None:
                commits = by_priority[urgent] = GroupCommit(self._run_many, gather=0.0)
            return commits
