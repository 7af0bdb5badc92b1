"""Group commit: several deliveries in one transaction are handled as if each had its own,
and the HTTP app's GroupCommit gives each request its own delivery's outcome."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from commandpost.core.alerts import AlertSource
from commandpost.service.alerts import AlertTally, IngestResult, Prepared, ingest_many, prepare
from commandpost.service.context import Context
from commandpost.storage import models as m
from commandpost.storage.alert_models import AlertIncident
from commandpost.storage.group_commit import GroupCommit

from .alertsupport import ALL_TABLES, alertmanager, am_alert, open_incidents_by_fingerprint
from .support import counts

AM = AlertSource.ALERTMANAGER


def delivery(ctx: Context, fingerprint: str, *, receiver: str = "r") -> Prepared:
    body = alertmanager([am_alert(fingerprint)], group=fingerprint, receiver=receiver)
    return prepare(ctx, source=AM, body=body)


def events(ctx: Context, kind: str) -> list[m.AuditEvent]:
    with Session(ctx.engine) as s:
        query = select(m.AuditEvent).where(m.AuditEvent.kind == kind)
        return list(s.exec(query.order_by(col(m.AuditEvent.seq))))


def test_one_transaction_handles_its_deliveries_in_order(ctx: Context) -> None:
    batch = [
        delivery(ctx, "fp-a"),
        delivery(ctx, "fp-a", receiver="again"),  # attached to the incident just opened
        delivery(ctx, "fp-a"),  # the first body again: a retry, counted once
        delivery(ctx, "fp-b"),
    ]
    first, second, retry, other = ingest_many(ctx, batch)
    (incident,) = first.opened
    assert (second.opened, second.attached) == ((), 1)
    assert second.tallies == {incident: AlertTally(alerts=2, fingerprints=1, firing=1)}
    assert retry.duplicate and retry.delivery_id == first.delivery_id
    assert len(other.opened) == 1 and other.opened[0] != incident
    assert {fp: ids for (_, fp), ids in open_incidents_by_fingerprint(ctx).items()} == {
        "fp-a": [incident],
        "fp-b": list(other.opened),
    }
    # One audit event per incident for the transaction, naming its deliveries.
    attached = [e for e in events(ctx, "alert.attached") if e.incident_id == incident]
    assert len(attached) == 1
    assert f'"deliveries":[{first.delivery_id},{second.delivery_id}]' in attached[0].data
    assert '"alerts":2' in attached[0].data and '"opened":true' in attached[0].data


def test_the_flood_limit_holds_inside_one_transaction(ctx: Context) -> None:
    limit = ctx.policy.alerts.flood.max_incidents
    results = ingest_many(ctx, [delivery(ctx, f"fp-{n}") for n in range(limit + 3)])
    assert [len(r.opened) for r in results] == [1] * limit + [0, 0, 0]
    storms = {r.storm_incident for r in results[limit:]}
    assert len(storms) == 1 and None not in storms
    assert [r.storm_opened for r in results[limit:]] == [True, False, False]
    (storm,) = storms
    assert storm is not None
    assert results[-1].tallies[storm] == AlertTally(alerts=3, fingerprints=3, firing=3)
    homes = open_incidents_by_fingerprint(ctx)
    assert len(homes) == limit + 3 and all(len(v) == 1 for v in homes.values())


def test_concurrent_requests_each_get_their_own_outcome(ctx: Context) -> None:
    commits = GroupCommit(lambda batch: ingest_many(ctx, batch))
    fingerprints = [f"fp-{n}" for n in range(3)]
    answers: dict[tuple[int, int], IngestResult] = {}
    errors: list[BaseException] = []

    def send(worker: int) -> None:
        try:
            for n in range(8):
                fp = fingerprints[(worker + n) % len(fingerprints)]
                with commits.arriving() as arrival:
                    answers[(worker, n)] = arrival.ingest(
                        delivery(ctx, fp, receiver=f"w{worker}-{n}")
                    )
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len({a.delivery_id for a in answers.values()}) == 48
    assert sum(len(a.opened) for a in answers.values()) == len(fingerprints)
    homes = open_incidents_by_fingerprint(ctx)
    assert sorted(fp for _, fp in homes) == fingerprints
    assert all(len(v) == 1 for v in homes.values())
    with Session(ctx.engine) as s:
        tallies = s.exec(select(AlertIncident.alerts)).all()
    assert sum(tallies) == 48


def test_a_transaction_that_fails_midway_writes_nothing(ctx: Context) -> None:
    broken = delivery(ctx, "fp-broken")
    (alert,) = broken.delivery.alerts
    # A group key the table refuses (NOT NULL): found only when the counts are written,
    # after both deliveries opened their incidents in the same transaction.
    bad_alert = replace(alert, group_key=None)  # type: ignore[arg-type]
    bad = replace(broken, delivery=replace(broken.delivery, alerts=(bad_alert,)))
    before = counts(ctx, ALL_TABLES)
    with pytest.raises(IntegrityError):
        ingest_many(ctx, [delivery(ctx, "fp-fine"), bad])
    assert counts(ctx, ALL_TABLES) == before


def test_a_failing_batch_is_retried_one_by_one_so_only_the_bad_delivery_fails(
    ctx: Context,
) -> None:
    first, bad, good = (delivery(ctx, fp) for fp in ("fp-first", "fp-bad", "fp-good"))
    calls: list[list[str]] = []
    others_queued = threading.Event()

    def flaky(batch: Sequence[Prepared]) -> list[IngestResult]:
        calls.append([d.delivery.alerts[0].fingerprint for d in batch])
        if len(calls) == 1:
            others_queued.wait(timeout=10)
            time.sleep(0.2)  # the other two queue behind this batch
        if any(d is bad for d in batch):
            raise RuntimeError("cannot handle fp-bad")
        return ingest_many(ctx, batch)

    commits = GroupCommit(flaky)
    outcomes: dict[str, object] = {}

    def send(d: Prepared) -> None:
        try:
            outcomes[d.delivery.alerts[0].fingerprint] = commits.ingest(d)
        except RuntimeError as exc:
            outcomes[d.delivery.alerts[0].fingerprint] = exc

    leader = threading.Thread(target=send, args=(first,))
    leader.start()
    while not calls:
        time.sleep(0.01)
    followers = [threading.Thread(target=send, args=(d,)) for d in (bad, good)]
    for t in followers:
        t.start()
    others_queued.set()
    for t in (leader, *followers):
        t.join(timeout=30)
    assert calls == [["fp-first"], ["fp-bad", "fp-good"], ["fp-bad"], ["fp-good"]]
    assert isinstance(outcomes["fp-bad"], RuntimeError)
    for fp in ("fp-first", "fp-good"):
        result = outcomes[fp]
        assert isinstance(result, IngestResult) and len(result.opened) == 1


def test_many_threads_each_delivery_handled_once_and_batches_never_overlap() -> None:
    """The hand-over of the lead under contention: 12 threads x 40 deliveries, some through
    `arriving()`, batches that take a little time; no delivery lost, doubled or mixed up,
    and never two batches at once."""
    running, overlaps, seen = [0], [0], []
    lock = threading.Lock()

    def ingest_many_slowly(batch: Sequence[Prepared]) -> list[IngestResult]:
        with lock:
            running[0] += 1
            overlaps[0] += running[0] > 1
            seen.extend(batch)
        time.sleep(0.001)
        with lock:
            running[0] -= 1
        return [d for d in batch]  # type: ignore[misc]  # each delivery answers itself

    commits = GroupCommit(ingest_many_slowly, gather=0.0005)
    answers: dict[int, object] = {}

    def send(worker: int) -> None:
        for n in range(40):
            token = worker * 1000 + n
            if n % 3:
                with commits.arriving() as arrival:
                    answers[token] = arrival.ingest(token)  # type: ignore[arg-type]
            else:
                answers[token] = commits.ingest(token)  # type: ignore[arg-type]

    threads = [threading.Thread(target=send, args=(w,)) for w in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert overlaps == [0]
    assert sorted(seen) == sorted(answers) and len(answers) == 12 * 40  # type: ignore[type-var]
    assert all(answer == token for token, answer in answers.items())
