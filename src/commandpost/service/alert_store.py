"""Reading and writing the alert tables inside an ingestion's transaction.

Ingestion is the busiest writer a storm produces, so each delivery reads what it needs once:
the open incidents' fingerprint rows found by `open_homes` are the rows `record_alerts`
updates (a fingerprint not among them is, by that query, on no open incident).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Table, bindparam, insert, update
from sqlmodel import Session, SQLModel, col, select

from commandpost.core.alerts import Alert, AlertSource, AlertStatus
from commandpost.core.lifecycle import OPEN_STATUSES
from commandpost.service.ids import next_number
from commandpost.storage import models as m
from commandpost.storage.alert_models import AlertDelivery, AlertFingerprint, AlertIncident
from commandpost.storage.engine import lock_audit_chain

OPEN = sorted(s.value for s in OPEN_STATUSES)
ALERT, STORM = "alert", "storm"


def lock_for_ingest(session: Session, *, year: int) -> None:
    """Serialise ingestions, so two deliveries never both open an incident for one fingerprint.

    On PostgreSQL the locks are taken in the order `declare` takes them (the year's numbering,
    then the audit chain): an ingestion and a person declaring at once queue, never deadlock.
    SQLite serialises writers already (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name == "postgresql":
        next_number(session, year)
        lock_audit_chain(session)


_DELIVERIES: Table = SQLModel.metadata.tables[AlertDelivery.__tablename__]
# Core statements, built once: the ORM's unit of work costs several times more per row here,
# and every delivery of a storm passes this way.
_FIND_DELIVERY = select(_DELIVERIES.c.id, _DELIVERIES.c.received_at).where(
    _DELIVERIES.c.source == bindparam("source"),
    _DELIVERIES.c.body_sha256 == bindparam("digest"),
)
_ADD_DELIVERY = insert(_DELIVERIES).returning(_DELIVERIES.c.id)
_SEEN_AGAIN = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("row"))
    .values(repeats=_DELIVERIES.c.repeats + 1)
)
_HANDLED_AGAIN = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("row"))
    .values(received_at=bindparam("at"))
)


def claim_delivery(
    session: Session,
    *,
    source: AlertSource,
    digest: str,
    alerts: int,
    at: datetime,
    window: timedelta,
) -> tuple[int, bool]:
    """The delivery's id, and whether it is a retry of one handled within `window`."""
    found = session.execute(_FIND_DELIVERY, {"source": source.value, "digest": digest}).first()
    if found is None:
        values = {
            "source": source.value,
            "body_sha256": digest,
            "alerts": alerts,
            "first_received_at": at,
            "received_at": at,
            "repeats": 0,
        }
        return int(session.execute(_ADD_DELIVERY, values).scalar_one()), False
    row_id, received_at = int(found[0]), found[1]
    if received_at > at - window:
        session.execute(_SEEN_AGAIN, {"row": row_id})
        return row_id, True
    # The same body long after: a monitor re-notifying, so it is handled afresh.
    session.execute(_HANDLED_AGAIN, {"row": row_id, "at": at})
    return row_id, False


@dataclass(frozen=True)
class Home:
    """Where a fingerprint lives: its row, its open incident, and that incident's tally."""

    row: AlertFingerprint
    incident: m.Incident
    tally: AlertIncident | None


def open_homes(
    session: Session, source: AlertSource, fingerprints: Sequence[str]
) -> dict[str, Home]:
    """Fingerprint → its home on the open incident it belongs to (the newest, were there two).

    One read brings the incidents (locked, as `load_incident(lock=True)` would) and their
    tallies too, so attaching a storm's repeats reads nothing more.
    """
    if not fingerprints:
        return {}
    rows = session.exec(
        select(AlertFingerprint, m.Incident, AlertIncident)
        .join(m.Incident, col(m.Incident.id) == col(AlertFingerprint.incident_id))
        .outerjoin(
            AlertIncident, col(AlertIncident.incident_id) == col(AlertFingerprint.incident_id)
        )
        .where(
            AlertFingerprint.source == source.value,
            col(AlertFingerprint.fingerprint).in_(sorted(set(fingerprints))),
            col(m.Incident.status).in_(OPEN),
        )
        .order_by(col(m.Incident.declared_at), col(m.Incident.id))
        .with_for_update(of=m.Incident)
    )
    return {row.fingerprint: Home(row, incident, tally) for row, incident, tally in rows}


def recent_openings(session: Session, since: datetime) -> list[datetime]:
    """When incidents were opened from alerts after `since` (storms do not count)."""
    return list(
        session.exec(
            select(AlertIncident.opened_at).where(
                AlertIncident.kind == ALERT, col(AlertIncident.opened_at) > since
            )
        )
    )


def open_storm(session: Session) -> AlertIncident | None:
    return session.exec(
        select(AlertIncident)
        .join(m.Incident, col(m.Incident.id) == col(AlertIncident.incident_id))
        .where(AlertIncident.kind == STORM, col(m.Incident.status).in_(OPEN))
        .order_by(col(AlertIncident.opened_at).desc())
    ).first()


def alert_incident(session: Session, incident_id: str, *, at: datetime) -> AlertIncident:
    """The incident's alert tally row; an incident alerts never touched before gets one."""
    row = session.get(AlertIncident, incident_id)
    if row is None:
        row = AlertIncident(
            incident_id=incident_id,
            source="",
            kind="attached",
            rule="",
            group_key="",
            opened_at=at,
            last_alert_at=at,
        )
        session.add(row)
    return row


def add_alert_incident(
    session: Session,
    *,
    incident_id: str,
    source: AlertSource,
    kind: str,
    rule: str,
    group_key: str,
    at: datetime,
) -> AlertIncident:
    row = AlertIncident(
        incident_id=incident_id,
        source=source.value,
        kind=kind,
        rule=rule,
        group_key=group_key,
        opened_at=at,
        last_alert_at=at,
    )
    session.add(row)
    return row


@dataclass
class Touched:
    """What a delivery did to one incident's fingerprints."""

    new: list[Alert] = field(default_factory=list)  # first seen here, firing
    refired: list[Alert] = field(default_factory=list)  # had resolved, firing again
    repeated: list[Alert] = field(default_factory=list)  # still firing, or resolved again
    resolved: list[Alert] = field(default_factory=list)  # now resolved (or first seen resolved)

    @property
    def firing(self) -> list[Alert]:
        return [*self.new, *self.refired, *(a for a in self.repeated if a.firing)]


def record_alerts(
    session: Session,
    *,
    tally: AlertIncident,
    source: AlertSource,
    alerts: Sequence[tuple[Alert, str]],
    existing: Mapping[str, AlertFingerprint],
    at: datetime,
) -> Touched:
    """Count `(alert, rule)` pairs against the incident of `tally`; `existing` holds its rows
    for these fingerprints (from `open_homes`), and `rule` is kept for new ones."""
    touched = Touched()
    for alert, rule in alerts:
        row = existing.get(alert.fingerprint)
        if row is None:
            session.add(
                AlertFingerprint(
                    source=source.value,
                    fingerprint=alert.fingerprint,
                    incident_id=tally.incident_id,
                    title=alert.title,
                    rule=rule,
                    first_seen_at=at,
                    last_seen_at=at,
                    last_status=alert.status.value,
                )
            )
            tally.fingerprints += 1
            tally.firing += 1 if alert.firing else 0
            (touched.new if alert.firing else touched.resolved).append(alert)
            continue
        before = AlertStatus(row.last_status)
        row.count += 1
        row.last_seen_at = at
        row.last_status = alert.status.value
        session.add(row)
        if alert.status is before:
            touched.repeated.append(alert)
        elif alert.firing:
            tally.firing += 1
            touched.refired.append(alert)
        else:
            tally.firing -= 1
            touched.resolved.append(alert)
    tally.alerts += len(alerts)
    tally.last_alert_at = at
    session.add(tally)
    return touched


@dataclass(frozen=True)
class AlertTally:
    """For the incident's summary card: alerts received, distinct fingerprints, still firing."""

    alerts: int
    fingerprints: int
    firing: int

    @classmethod
    def of(cls, row: AlertIncident) -> AlertTally:
        return cls(alerts=row.alerts, fingerprints=row.fingerprints, firing=row.firing)


def tally_of(session: Session, incident_id: str) -> AlertTally | None:
    row = session.get(AlertIncident, incident_id)
    return AlertTally.of(row) if row is not None else None
