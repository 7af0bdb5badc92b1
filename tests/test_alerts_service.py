"""Alert ingestion through the service layer, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect
from sqlmodel import Session, col, select

from commandpost.chat.console import ConsoleChat
from commandpost.core.alerts import AlertSource
from commandpost.core.vocabulary import IncidentClass, Severity, Status
from commandpost.errors import InvalidInput
from commandpost.service import outbox
from commandpost.service.alerts import AlertTally, alert_tally, ingest
from commandpost.service.context import Context
from commandpost.service.incidents import get_incident, resolve
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m
from commandpost.storage.migrate import alembic_config

from .alertsupport import (
    ALERT_TABLES,
    ALL_TABLES,
    alertmanager,
    am_alert,
    fixture,
    generic,
    generic_alert,
    open_incidents_by_fingerprint,
)
from .support import audit_kinds, counts, declare_incident

AM, GENERIC = AlertSource.ALERTMANAGER, AlertSource.GENERIC


def outbox_items(ctx: Context, incident_id: str | None = None) -> list[m.OutboxItem]:
    with Session(ctx.engine) as s:
        query = select(m.OutboxItem).order_by(col(m.OutboxItem.id))
        if incident_id is not None:
            query = query.where(m.OutboxItem.incident_id == incident_id)
        return list(s.exec(query))


def posts(ctx: Context, incident_id: str) -> list[str]:
    return [i.body for i in outbox_items(ctx, incident_id) if i.kind == "post"]


def timers_of(ctx: Context, incident_id: str) -> Counter[tuple[str, str, timedelta]]:
    incident = get_incident(ctx, incident_id)
    with Session(ctx.engine) as s:
        rows = s.exec(select(m.Deadline).where(m.Deadline.incident_id == incident_id))
        return Counter((d.kind, d.subject, d.due_at - incident.declared_at) for d in rows)


def paged(ctx: Context, incident_id: str) -> dict[str, str]:
    with Session(ctx.engine) as s:
        rows = s.exec(select(m.RoleAssignment).where(m.RoleAssignment.incident_id == incident_id))
        return {r.role: r.person_id for r in rows}


def test_a_delivery_opens_one_incident_that_pages_and_times_like_a_declared_one(
    ctx: Context, chat: ConsoleChat
) -> None:
    result = ingest(ctx, source=AM, body=fixture("alertmanager_firing"))
    (incident_id,) = result.opened
    assert result.tallies == {incident_id: AlertTally(alerts=2, fingerprints=2, firing=2)}
    incident = get_incident(ctx, incident_id)
    assert (incident.klass, incident.severity, incident.status) == (
        "data_leakage",
        "SEV1",
        "declared",
    )
    assert incident.title == "PII detected in chat-v7 output"
    assert (incident.model, incident.model_version, incident.surface, incident.tenant) == (
        "chat-v7",
        "2026-02-28",
        "consumer-chat",
        "acme",
    )
    assert incident.declared_by == "alert:alertmanager"
    assert incident.trigger == "alert:alertmanager:1a30ba71cca2921f"
    # The severity's roles, plus legal from the route.
    assert paged(ctx, incident_id) == {
        "incident_commander": "alice",
        "model_owner": "carol",
        "safety_lead": "erin",
        "comms": "grace",
        "legal": "ivan",
    }
    declared = declare_incident(ctx, "By hand", IncidentClass.DATA_LEAKAGE, Severity.SEV1)
    expected = timers_of(ctx, declared)
    expected[("ack", "legal", timedelta(minutes=10))] += 1
    assert timers_of(ctx, incident_id) == expected
    assert audit_kinds(ctx, incident_id) == [
        "incident.declared",
        *["role.paged"] * 5,
        "alert.attached",
    ]
    outbox.deliver(ctx)
    channel = chat.messages_to(f"#{incident.channel}")
    assert any("Opened from alertmanager (route pii-leak): 2 firing alert(s)" in t for t in channel)
    assert any(t.startswith("Source: http://prometheus") or "\nSource: " in t for t in channel)
    assert any("New incident INC-2026-0001" in t for t in chat.messages_to("#incidents"))


def test_the_same_delivery_twice_is_counted_once(ctx: Context) -> None:
    first = ingest(ctx, source=AM, body=fixture("alertmanager_firing"))
    before = counts(ctx, ALL_TABLES)
    again = ingest(ctx, source=AM, body=fixture("alertmanager_firing"))
    assert again.duplicate and again.delivery_id == first.delivery_id
    assert again.opened == () and again.tallies == {}
    assert counts(ctx, ALL_TABLES) == before


def test_an_open_incidents_fingerprint_is_attached_never_a_second_incident(
    ctx: Context, clock: ManualClock
) -> None:
    (incident_id,) = ingest(ctx, source=AM, body=alertmanager([am_alert("fp-a")], group="G")).opened
    posted = len(posts(ctx, incident_id))
    clock.advance(timedelta(minutes=5))
    # Alertmanager's next notification for the group: same alert, still firing.
    body = alertmanager([am_alert("fp-a")], group="G", receiver="again")
    repeat = ingest(ctx, source=AM, body=body)
    assert (repeat.opened, repeat.attached) == ((), 1)
    assert repeat.tallies[incident_id] == AlertTally(alerts=2, fingerprints=1, firing=1)
    assert audit_kinds(ctx, incident_id)[-1] == "alert.attached"
    assert len(posts(ctx, incident_id)) == posted  # a plain repeat is counted, not announced
    # A new alert in the same group joins the group's incident.
    joined = ingest(
        ctx, source=AM, body=alertmanager([am_alert("fp-a"), am_alert("fp-b")], group="G")
    )
    assert joined.opened == () and joined.attached == 2
    assert joined.tallies[incident_id] == AlertTally(alerts=4, fingerprints=2, firing=2)
    assert "1 new alert(s) from alertmanager attached: Alertfp-b" in posts(ctx, incident_id)[-1]
    # Another group opens its own incident.
    other = ingest(ctx, source=AM, body=alertmanager([am_alert("fp-c")], group="H"))
    assert len(other.opened) == 1 and other.opened[0] != incident_id
    assert all(len(v) == 1 for v in open_incidents_by_fingerprint(ctx).values())


def test_a_resolved_alert_is_noted_and_never_resolves_the_incident(ctx: Context) -> None:
    (incident_id,) = ingest(ctx, source=AM, body=fixture("alertmanager_firing")).opened
    result = ingest(ctx, source=AM, body=fixture("alertmanager_resolved"))
    assert (result.opened, result.attached, result.resolved_noted) == ((), 1, 1)
    assert get_incident(ctx, incident_id).status == Status.DECLARED.value
    assert result.tallies[incident_id] == AlertTally(alerts=3, fingerprints=2, firing=1)
    assert audit_kinds(ctx, incident_id)[-1] == "alert.resolved"
    assert "Resolved at the source (alertmanager): PIIDetected" in posts(ctx, incident_id)[-1]
    assert "stays open until a responder resolves it" in posts(ctx, incident_id)[-1]
    refired = alertmanager([am_alert("1a30ba71cca2921f")], group='{}/{detector="pii"}:other')
    assert ingest(ctx, source=AM, body=refired).opened == ()
    assert "Firing again (alertmanager)" in posts(ctx, incident_id)[-1]


def test_a_resolved_alert_nobody_saw_firing_opens_nothing(ctx: Context) -> None:
    before = counts(ctx)
    result = ingest(ctx, source=GENERIC, body=fixture("generic_resolved"))
    assert (result.ignored, result.opened) == (1, ())
    assert counts(ctx) == before


def test_once_its_incident_is_resolved_a_fingerprint_opens_a_new_one(ctx: Context) -> None:
    (first,) = ingest(ctx, source=GENERIC, body=fixture("generic_firing")).opened
    resolve(ctx, first, actor="alice", summary="refund tool disabled")
    body = generic({**generic_alert("support-agent-refund-runaway"), "title": "again"})
    (second,) = ingest(ctx, source=GENERIC, body=body).opened
    assert second != first
    assert open_incidents_by_fingerprint(ctx) == {
        ("generic", "support-agent-refund-runaway"): [second]
    }


def test_past_the_flood_limit_new_alerts_go_under_one_storm_and_the_ic_is_told(
    ctx: Context, clock: ManualClock
) -> None:
    results = []
    for n in range(7):
        results.append(ingest(ctx, source=GENERIC, body=generic(generic_alert(f"fp-{n}"))))
        clock.advance(timedelta(minutes=1))
    assert [len(r.opened) for r in results] == [1, 1, 1, 1, 1, 0, 0]
    storm = results[5].storm_incident
    assert storm is not None and results[5].storm_opened and results[6].storm_incident == storm
    assert not results[6].storm_opened and results[6].storm_grouped == 1
    incident = get_incident(ctx, storm)
    assert (incident.klass, incident.severity) == ("functional", "SEV2")
    assert incident.title.startswith("Alert storm")
    assert AlertTally(alerts=2, fingerprints=2, firing=2) == alert_tally(ctx, storm)
    told = [
        i.body for i in outbox_items(ctx, storm) if i.kind == "direct" and "Look there" in i.body
    ]
    assert len(told) == 1 and '"person_id": "alice"' in told[0]
    assert "grouped here instead of opening 1 incident(s)" in posts(ctx, storm)[-1]
    # A stormed fingerprint firing again stays with the storm.
    clock.advance(timedelta(minutes=1))
    again = ingest(ctx, source=GENERIC, body=generic({**generic_alert("fp-6"), "title": "x"}))
    assert again.opened == () and again.attached == 1 and storm in again.tallies
    # Once the window has passed, new fingerprints open their own incidents again.
    clock.advance(timedelta(minutes=11))
    assert len(ingest(ctx, source=GENERIC, body=generic(generic_alert("fp-new"))).opened) == 1


def test_the_same_body_long_after_is_handled_afresh(ctx: Context, clock: ManualClock) -> None:
    (incident_id,) = ingest(ctx, source=AM, body=fixture("alertmanager_firing")).opened
    clock.advance(timedelta(hours=2))
    later = ingest(ctx, source=AM, body=fixture("alertmanager_firing"))
    assert not later.duplicate and later.attached == 2
    assert later.tallies[incident_id] == AlertTally(alerts=4, fingerprints=2, firing=2)


def test_a_malformed_delivery_writes_nothing(ctx: Context) -> None:
    before = counts(ctx, ALL_TABLES)
    with pytest.raises(InvalidInput, match=r"alerts\.0\.status"):
        ingest(ctx, source=AM, body=alertmanager([am_alert("x", "maybe")]))
    assert counts(ctx, ALL_TABLES) == before
    assert alert_tally(ctx, "INC-2026-0001") is None


def test_concurrent_deliveries_open_one_incident_per_fingerprint(ctx: Context) -> None:
    fingerprints = [f"fp-{n}" for n in range(4)]
    errors: list[BaseException] = []

    def send(worker: int) -> None:
        try:
            for n in range(6):
                fp = fingerprints[(worker + n) % len(fingerprints)]
                body = alertmanager([am_alert(fp)], group=fp, receiver=f"w{worker}-{n}")
                ingest(ctx, source=AM, body=body)
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    homes = open_incidents_by_fingerprint(ctx)
    assert sorted(fp for _, fp in homes) == fingerprints
    assert all(len(v) == 1 for v in homes.values())
    with Session(ctx.engine) as s:
        assert len(list(s.exec(select(m.Incident.id)))) == len(fingerprints)


def test_migration_0004_adds_and_removes_the_alert_tables(db_url: str) -> None:
    config = alembic_config(db_url)

    def tables() -> set[str]:
        engine = create_engine(db_url)
        try:
            return set(inspect(engine).get_table_names())
        finally:
            engine.dispose()

    assert set(ALERT_TABLES) <= tables()
    command.downgrade(config, "0003")
    assert not set(ALERT_TABLES) & tables()
    command.upgrade(config, "head")
    assert set(ALERT_TABLES) <= tables()
