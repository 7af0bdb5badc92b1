"""The alert tables, read and written once per ingestion transaction (one or many deliveries).

A storm's deliveries are mostly repeats of fingerprints already on open incidents, and one
transaction may carry several of them (group commit), so the tables are not read and written
per alert: `claim_deliveries` settles every delivery of the transaction in one read and one
insert, `Ledger.load` reads every fingerprint's open home (with its incident and tally) in one
query, the deliveries are then counted in memory, and `Ledger.write` writes what changed in one
statement per kind of change. All statements are Core, built once: the ORM's unit of work
costs several times more per row, and every delivery of a storm passes this way.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel

from commandpost.core.alerts import Alert, AlertSource
from commandpost.core.alerts.ledger import AlertTally, Spot, Tally, Touched, count_alerts
from commandpost.core.lifecycle import OPEN_STATUSES
from commandpost.service.ids import INCIDENTS, next_number
from commandpost.storage import models as m
from commandpost.storage.alert_models import AlertDelivery, AlertFingerprint, AlertIncident
from commandpost.storage.engine import lock_audit_chain

OPEN = sorted(s.value for s in OPEN_STATUSES)
ALERT, STORM = "alert", "storm"

_DELIVERIES: Table = SQLModel.metadata.tables[AlertDelivery.__tablename__]
_PRINTS: Table = SQLModel.metadata.tables[AlertFingerprint.__tablename__]
_TALLIES: Table = SQLModel.metadata.tables[AlertIncident.__tablename__]


def lock_for_ingest(session: Session, *, year: int) -> None:
    """Serialise ingestions, so two deliveries never both open an incident for one fingerprint.

    On PostgreSQL the locks are taken in the order `declare` takes them (the year's numbering,
    then the audit chain): an ingestion and a person declaring at once queue, never deadlock.
    SQLite serialises writers already (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name == "postgresql":
        next_number(session, year)
        lock_audit_chain(session)


# -- deliveries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    source: AlertSource
    digest: str
    alerts: int
    at: datetime


@dataclass
class _Seen:
    row_id: int
    received_at: datetime
    added: bool = False  # inserted by this transaction
    repeats: int = 0
    changed: bool = False


_KEY = (_DELIVERIES.c.source, _DELIVERIES.c.body_sha256)
# Inserted if new, in one statement for the whole transaction; only the rows it did not
# insert (retries, and bodies seen long ago) are read back.
_ADD_DELIVERIES = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(_DELIVERIES)
    .on_conflict_do_nothing(index_elements=list(_KEY))
    .returning(_DELIVERIES.c.id, *_KEY)
    for dialect in (postgresql, sqlite)
}
_FIND_DELIVERIES = select(_DELIVERIES.c.id, *_KEY, _DELIVERIES.c.received_at).where(
    _DELIVERIES.c.source.in_(bindparam("sources", expanding=True)),
    _DELIVERIES.c.body_sha256.in_(bindparam("digests", expanding=True)),
)
_SEEN_AGAIN = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("row"))
    .values(repeats=_DELIVERIES.c.repeats + bindparam("more"), received_at=bindparam("when"))
)


def claim_deliveries(
    session: Session, claims: Sequence[Claim], *, window: timedelta
) -> list[tuple[int, bool]]:
    """Each delivery's id, and whether it is a retry of one handled within `window` (also of
    one earlier in `claims`). The same body long after is a monitor re-notifying: handled."""
    conn = session.connection()
    firsts: dict[tuple[str, str], Claim] = {}
    for claim in claims:
        firsts.setdefault((claim.source.value, claim.digest), claim)
    add = _ADD_DELIVERIES[conn.dialect.name]
    inserted = conn.execute(add, [_delivery_row(claim) for claim in firsts.values()])
    seen = {
        (source, digest): _Seen(int(row_id), firsts[(source, digest)].at, added=True)
        for row_id, source, digest in inserted
    }
    missing = [claim for key, claim in firsts.items() if key not in seen]
    if missing:
        params = {
            "sources": sorted({c.source.value for c in missing}),
            "digests": sorted({c.digest for c in missing}),
        }
        for row_id, source, digest, received_at in conn.execute(_FIND_DELIVERIES, params):
            seen.setdefault((source, digest), _Seen(int(row_id), received_at))
    settled: list[tuple[int, bool]] = []
    for claim in claims:
        key = (claim.source.value, claim.digest)
        row = seen[key]
        if row.added and claim is firsts[key]:
            settled.append((row.row_id, False))
        elif row.received_at > claim.at - window:
            row.repeats, row.changed = row.repeats + 1, True
            settled.append((row.row_id, True))
        else:
            row.received_at, row.changed = claim.at, True
            settled.append((row.row_id, False))
    again = [
        {"row": r.row_id, "more": r.repeats, "when": r.received_at}
        for r in seen.values()
        if r.changed
    ]
    if again:
        conn.execute(_SEEN_AGAIN, again)
    return settled


def _delivery_row(claim: Claim) -> dict[str, object]:
    return {
        "source": claim.source.value,
        "body_sha256": claim.digest,
        "alerts": claim.alerts,
        "first_received_at": claim.at,
        "received_at": claim.at,
        "repeats": 0,
    }


# -- the fingerprints' homes, and the incidents' tallies ----------------------------------------


_TALLY_COLUMNS = (
    _TALLIES.c.kind,
    _TALLIES.c.alerts,
    _TALLIES.c.fingerprints,
    _TALLIES.c.firing,
    _TALLIES.c.last_alert_at,
)
_HOMES = (
    select(
        _PRINTS.c.id,
        _PRINTS.c.source,
        _PRINTS.c.fingerprint,
        _PRINTS.c.last_status,
        _PRINTS.c.last_seen_at,
        INCIDENTS.c.id,
        INCIDENTS.c.channel,
        INCIDENTS.c.policy_version,
        *_TALLY_COLUMNS,
    )
    .join(INCIDENTS, INCIDENTS.c.id == _PRINTS.c.incident_id)
    .outerjoin(_TALLIES, _TALLIES.c.incident_id == _PRINTS.c.incident_id)
    .where(
        _PRINTS.c.source.in_(bindparam("sources", expanding=True)),
        _PRINTS.c.fingerprint.in_(bindparam("fingerprints", expanding=True)),
        INCIDENTS.c.status.in_(OPEN),
    )
    # Newest last, so it is the home kept were a fingerprint on two open incidents.
    .order_by(INCIDENTS.c.declared_at, INCIDENTS.c.id)
    # Locked as `load_incident(lock=True)` would (PostgreSQL; SQLite ignores it).
    .with_for_update(of=INCIDENTS)
)
_STORM = (
    select(INCIDENTS.c.id, INCIDENTS.c.channel, INCIDENTS.c.policy_version, *_TALLY_COLUMNS)
    .join(INCIDENTS, INCIDENTS.c.id == _TALLIES.c.incident_id)
    .where(_TALLIES.c.kind == STORM, INCIDENTS.c.status.in_(OPEN))
    .order_by(_TALLIES.c.opened_at.desc())
    .limit(1)
    .with_for_update(of=INCIDENTS)
)
_OPENINGS = select(_TALLIES.c.opened_at).where(
    _TALLIES.c.kind == ALERT, _TALLIES.c.opened_at > bindparam("since")
)
_ADD_TALLIES = insert(_TALLIES)
_SET_TALLIES = (
    update(_TALLIES)
    .where(_TALLIES.c.incident_id == bindparam("incident"))
    .values(
        alerts=bindparam("n_alerts"),
        fingerprints=bindparam("n_fingerprints"),
        firing=bindparam("n_firing"),
        last_alert_at=bindparam("last"),
    )
)
_ADD_PRINTS = insert(_PRINTS)
_SET_PRINTS = (
    update(_PRINTS)
    .where(_PRINTS.c.id == bindparam("row"))
    .values(
        count=_PRINTS.c.count + bindparam("more"),
        last_seen_at=bindparam("seen"),
        last_status=bindparam("status"),
    )
)


def _tally(row: Sequence[Any]) -> Tally:
    """From (incident id, channel, policy version, *_TALLY_COLUMNS)."""
    incident_id, channel, version, kind, alerts, fingerprints, firing, last = row
    if kind is None:  # an open incident whose fingerprints have no tally row: one is made
        return Tally(incident_id, channel, version, "attached", 0, 0, 0, last, stored=False)
    return Tally(incident_id, channel, version, kind, alerts, fingerprints, firing, last)


@dataclass
class Ledger:
    """The transaction's view of the alert tables: read once, counted in memory, then written."""

    spots: dict[tuple[str, str], Spot]
    tallies: dict[str, Tally]
    since: datetime  # the earliest any delivery of the transaction counts openings from
    _openings: list[datetime] | None = None
    _storm: Tally | None = None
    _storm_read: bool = False

    @classmethod
    def load(
        cls, session: Session, keys: Collection[tuple[str, str]], *, since: datetime
    ) -> Ledger:
        """Every (source, fingerprint) of `keys` on an open incident, with that incident."""
        ledger = cls({}, {}, since)
        if not keys:
            return ledger
        params = {
            "sources": sorted({s for s, _ in keys}),
            "fingerprints": sorted({f for _, f in keys}),
        }
        for row in session.connection().execute(_HOMES, params):
            row_id, source, fingerprint, status, seen, incident_id = row[:6]
            if (source, fingerprint) not in keys:
                continue
            tally = ledger.tallies.get(incident_id) or _tally(row[5:])
            ledger.tallies[incident_id] = tally
            spot = Spot(source, fingerprint, incident_id, status, seen, row_id=row_id)
            ledger.spots[(source, fingerprint)] = spot
        return ledger

    def openings(self, session: Session) -> list[datetime]:
        """When incidents were opened from alerts lately, this transaction's openings too."""
        if self._openings is None:
            found = session.connection().execute(_OPENINGS, {"since": self.since}).scalars()
            self._openings = list(found)
        return self._openings

    def storm(self, session: Session) -> Tally | None:
        """The open alert-storm incident (the newest, were there two)."""
        if not self._storm_read:
            row = session.connection().execute(_STORM).first()
            self._storm = _tally(tuple(row)) if row is not None else None
            self._storm_read = True
        if self._storm is not None:
            self.tallies.setdefault(self._storm.incident_id, self._storm)
            return self.tallies[self._storm.incident_id]
        return None

    def add_tally(
        self,
        session: Session,
        incident: m.Incident,
        *,
        source: AlertSource,
        kind: str,
        rule: str,
        group_key: str,
        at: datetime,
    ) -> Tally:
        """The tally of an incident alerts just opened (an opening the flood rule counts)."""
        tally = Tally(
            incident.id,
            incident.channel,
            incident.policy_version,
            kind,
            0,
            0,
            0,
            at,
            source=source.value,
            rule=rule,
            group_key=group_key,
            opened_at=at,
            stored=False,
        )
        self.tallies[incident.id] = tally
        if kind == STORM:
            self._storm, self._storm_read = tally, True
        else:
            self.openings(session).append(at)
        return tally

    def record(
        self,
        tally: Tally,
        *,
        source: AlertSource,
        alerts: Sequence[tuple[Alert, str]],
        at: datetime,
    ) -> Touched:
        """Count `(alert, rule)` pairs on `tally`'s incident; `rule` is kept for new ones."""
        return count_alerts(self.spots, tally, source=source.value, alerts=alerts, at=at)

    def write(self, session: Session) -> None:
        """Write what the transaction counted: one statement per kind of change."""
        tallies = [t for t in self.tallies.values() if t.changed or not t.stored]
        added = [_tally_row(t) for t in tallies if not t.stored]
        if added:
            session.connection().execute(_ADD_TALLIES, added)
        changed = [_tally_counts(t) for t in tallies if t.stored]
        if changed:
            session.connection().execute(_SET_TALLIES, changed)
        spots = [s for s in self.spots.values() if s.added]
        new = [_spot_row(s) for s in spots if s.row_id is None]
        if new:
            session.connection().execute(_ADD_PRINTS, new)
        seen = [
            {"row": s.row_id, "more": s.added, "seen": s.last_seen_at, "status": s.last_status}
            for s in spots
            if s.row_id is not None
        ]
        if seen:
            session.connection().execute(_SET_PRINTS, seen)


def _tally_counts(t: Tally) -> dict[str, object]:
    return {
        "incident": t.incident_id,
        "n_alerts": t.alerts,
        "n_fingerprints": t.fingerprints,
        "n_firing": t.firing,
        "last": t.last_alert_at,
    }


def _tally_row(t: Tally) -> dict[str, object]:
    return {
        "incident_id": t.incident_id,
        "source": t.source,
        "kind": t.kind,
        "rule": t.rule,
        "group_key": t.group_key,
        "opened_at": t.opened_at or t.last_alert_at,
        "alerts": t.alerts,
        "fingerprints": t.fingerprints,
        "firing": t.firing,
        "last_alert_at": t.last_alert_at,
    }


def _spot_row(s: Spot) -> dict[str, object]:
    return {
        "source": s.source,
        "fingerprint": s.fingerprint,
        "incident_id": s.incident_id,
        "title": s.title,
        "rule": s.rule,
        "first_seen_at": s.first_seen_at or s.last_seen_at,
        "last_seen_at": s.last_seen_at,
        "count": s.added,
        "last_status": s.last_status,
    }


_TALLY = select(_TALLIES.c.alerts, _TALLIES.c.fingerprints, _TALLIES.c.firing).where(
    _TALLIES.c.incident_id == bindparam("incident")
)


def tally_of(session: Session, incident_id: str) -> AlertTally | None:
    # Core, like every write to the table: read for each summary card, where the ORM's get
    # cost more than the rest of the card's reads together.
    row = session.connection().execute(_TALLY, {"incident": incident_id}).first()
    if row is None:
        return None
    return AlertTally(alerts=row.alerts, fingerprints=row.fingerprints, firing=row.firing)
