"""Alert ingestion: a monitor's delivery opens, joins or notes incidents, in one transaction.

    ingest(ctx, source=…, body=…, received_at=…) → IngestResult
    alert_tally(ctx, incident_id)                → AlertTally | None   (for the summary card)

What happens to each alert is decided by `core.alerts.plan_delivery`; here the store is read
for it and the plan carried out. A delivery already handled (same body from the same source,
within the redelivery window) changes nothing. An alert never resolves an incident, and every
incident it opens pages its roles and runs its timers like a declared one; a human decides
everything after that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from commandpost.core.alerts import (
    Alert,
    AlertSource,
    NewIncident,
    Plan,
    notes,
    parse_delivery,
    plan_delivery,
    route,
)
from commandpost.core.vocabulary import Role
from commandpost.service import alert_store as store
from commandpost.service.alert_incidents import open_incident
from commandpost.service.alert_store import AlertTally, Home, Touched
from commandpost.service.context import Context, audit, direct, load_incident, post
from commandpost.service.incidents import Declaration
from commandpost.service.roles import holder
from commandpost.storage import models as m
from commandpost.storage.alert_models import AlertIncident
from commandpost.storage.engine import read_transaction, transaction

__all__ = ["AlertTally", "IngestResult", "alert_tally", "ingest"]


@dataclass(frozen=True)
class IngestResult:
    """What one delivery did. `tallies`: each incident it touched, with its alert counts."""

    source: AlertSource
    delivery_id: int
    alerts: int
    duplicate: bool = False
    opened: tuple[str, ...] = ()
    attached: int = 0
    resolved_noted: int = 0
    storm_incident: str | None = None
    storm_opened: bool = False
    storm_grouped: int = 0
    ignored: int = 0
    tallies: Mapping[str, AlertTally] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source.value,
            "delivery": self.delivery_id,
            "alerts": self.alerts,
            "duplicate": self.duplicate,
            "opened": list(self.opened),
            "attached": self.attached,
            "resolved_noted": self.resolved_noted,
            "storm": {
                "incident": self.storm_incident,
                "opened": self.storm_opened,
                "grouped": self.storm_grouped,
            },
            "ignored": self.ignored,
            "incidents": {
                incident_id: {
                    "alerts": t.alerts,
                    "fingerprints": t.fingerprints,
                    "firing": t.firing,
                }
                for incident_id, t in self.tallies.items()
            },
        }


def ingest(
    ctx: Context, *, source: AlertSource, body: bytes, received_at: datetime | None = None
) -> IngestResult:
    """Parse first (InvalidInput writes nothing), then handle the delivery in one transaction."""
    delivery = parse_delivery(source, body)
    at = received_at or ctx.now()
    rules = ctx.policy.alerts
    digest = hashlib.sha256(body).hexdigest()
    with transaction(ctx.engine) as session:
        # The year an incident opened now would be numbered in (what `declare` locks).
        store.lock_for_ingest(session, year=ctx.now().year)
        delivery_id, duplicate = store.claim_delivery(
            session,
            source=source,
            digest=digest,
            alerts=len(delivery.alerts),
            at=at,
            window=rules.redelivery_window,
        )
        if duplicate:
            return IngestResult(source, delivery_id, len(delivery.alerts), duplicate=True)
        homes = store.open_homes(session, source, [a.fingerprint for a in delivery.alerts])
        # The flood rule only matters when something may open; a storm's repeats skip the read.
        may_open = any(a.firing and a.fingerprint not in homes for a in delivery.alerts)
        since = at - rules.flood.window
        # An opening committed before this delivery took the lock happened before it, even
        # when stamped later (its request was received after this one, then won the lock):
        # counted as of `at`, or concurrent deliveries could open past the flood limit.
        openings = [min(o, at) for o in store.recent_openings(session, since)] if may_open else []
        plan = plan_delivery(
            delivery.alerts,
            known={fp: home.incident.id for fp, home in homes.items()},
            opened_at=openings,
            rules=rules,
            now=at,
        )
        run = _Run(
            session=session, ctx=ctx, source=source, delivery_id=delivery_id, at=at, homes=homes
        )
        return run.carry_out(plan, alerts=len(delivery.alerts))


def alert_tally(ctx: Context, incident_id: str) -> AlertTally | None:
    """The incident's alert counts for its summary card; None if no alert ever touched it."""
    with read_transaction(ctx.engine) as session:
        return store.tally_of(session, incident_id)


@dataclass
class _Run:
    session: Session
    ctx: Context
    source: AlertSource
    delivery_id: int
    at: datetime
    homes: dict[str, Home]
    tallies: dict[str, AlertIncident] = field(default_factory=dict)  # touched, in order
    resolved_noted: int = 0

    @property
    def actor(self) -> str:
        return f"alert:{self.source.value}"

    def carry_out(self, plan: Plan, *, alerts: int) -> IngestResult:
        opened = tuple(self._open(new) for new in plan.open)
        storm_id, storm_opened = self._storm(plan.storm) if plan.storm else (None, False)
        by_incident: dict[str, list[Alert]] = {}
        for item in plan.attach:
            by_incident.setdefault(item.incident_id, []).append(item.alert)
        for incident_id, attached in by_incident.items():
            self._attach(incident_id, attached)
        return IngestResult(
            source=self.source,
            delivery_id=self.delivery_id,
            alerts=alerts,
            opened=opened,
            attached=len(plan.attach),
            resolved_noted=self.resolved_noted,
            storm_incident=storm_id,
            storm_opened=storm_opened,
            storm_grouped=sum(len(group.alerts) for group in plan.storm),
            ignored=len(plan.ignored),
            tallies={i: AlertTally.of(row) for i, row in self.tallies.items()},
        )

    def _declaration(self, new: NewIncident) -> Declaration:
        lead = new.lead
        return Declaration(
            title=lead.title,
            klass=lead.klass,
            severity=lead.severity,
            declared_by=self.actor,
            model=lead.model,
            model_version=lead.model_version,
            surface=lead.endpoint,
            tenant=lead.tenant,
            region=lead.region,
            description=lead.alert.summary,
            trigger=f"{self.actor}:{lead.alert.fingerprint}"[:200],
        )

    def _open(self, new: NewIncident) -> str:
        incident = open_incident(
            self.session,
            self.ctx,
            self._declaration(new),
            extra_page=new.page,
            why=f"paged by alert route {new.lead.rule}",
        )
        tally = store.add_alert_incident(
            self.session,
            incident_id=incident.id,
            source=self.source,
            kind=store.ALERT,
            rule=new.lead.rule,
            group_key=new.group_key,
            at=self.at,
        )
        touched = self._record(tally, [(r.alert, r.rule) for r in new.alerts])
        alerts = [r.alert for r in new.alerts]
        self._audit(incident, touched, opened=True, rule=new.lead.rule)
        post(self.session, self.ctx, incident, notes.opened(self.source, new.lead, alerts))
        self._note_resolved(incident, touched)
        return incident.id

    def _storm(self, groups: Sequence[NewIncident]) -> tuple[str, bool]:
        rules = self.ctx.policy.alerts
        row = store.open_storm(self.session)
        if row is None:
            spec = Declaration(
                title=rules.storm.title,
                klass=rules.storm.klass,
                severity=rules.storm.severity,
                declared_by=self.actor,
                description="Alerts past the flood limit, grouped in one incident.",
                trigger=f"{self.actor}:storm",
            )
            incident = open_incident(
                self.session, self.ctx, spec, extra_page=rules.storm.page, why="alert storm"
            )
            row = store.add_alert_incident(
                self.session,
                incident_id=incident.id,
                source=self.source,
                kind=store.STORM,
                rule="storm",
                group_key="",
                at=self.at,
            )
            quiet = opened = True
        else:
            incident = load_incident(self.session, row.incident_id, lock=True)
            # The IC hears of a storm once, and again only after it had gone quiet.
            quiet, opened = row.last_alert_at <= self.at - rules.flood.window, False
        pairs = [(r.alert, r.rule) for group in groups for r in group.alerts]
        touched = self._record(row, pairs)
        self._audit(incident, touched, storm=True)
        text = notes.stormed(self.source, [g.alerts for g in groups], rules.flood)
        post(self.session, self.ctx, incident, text)
        self._note_resolved(incident, touched)
        ic = holder(self.session, incident.id, Role.INCIDENT_COMMANDER)
        if quiet and ic is not None:
            message = notes.storm_for_ic(incident.id, rules.flood)
            direct(self.session, self.ctx, incident, ic.person_id, message)
        return incident.id, opened

    def _attach(self, incident_id: str, alerts: list[Alert]) -> None:
        home = next(h for h in self.homes.values() if h.incident.id == incident_id)
        incident = home.incident
        tally = home.tally or store.alert_incident(self.session, incident_id, at=self.at)
        rules = self.ctx.policy.alerts
        # The rule is kept for fingerprints new to the incident; routing is cheap.
        pairs = [(a, "" if a.fingerprint in self.homes else route(a, rules).rule) for a in alerts]
        touched = self._record(tally, pairs)
        self._audit(incident, touched)
        if touched.new or touched.refired:
            text = notes.attached(self.source, touched.new, touched.refired)
            post(self.session, self.ctx, incident, text)
        self._note_resolved(incident, touched)

    def _record(self, tally: AlertIncident, pairs: list[tuple[Alert, str]]) -> Touched:
        self.tallies[tally.incident_id] = tally
        existing = {
            fp: home.row for fp, home in self.homes.items() if home.incident.id == tally.incident_id
        }
        return store.record_alerts(
            self.session,
            tally=tally,
            source=self.source,
            alerts=pairs,
            existing=existing,
            at=self.at,
        )

    def _audit(self, incident: m.Incident, touched: Touched, **extra: Any) -> None:
        common = {"source": self.source.value, "delivery": self.delivery_id}
        if touched.firing:
            audit(
                self.session,
                self.ctx,
                incident,
                actor=self.actor,
                kind="alert.attached",
                **common,
                fingerprints=[a.fingerprint for a in touched.firing],
                new=[a.fingerprint for a in touched.new],
                refired=[a.fingerprint for a in touched.refired],
                **extra,
            )
        ended = [*touched.resolved, *(a for a in touched.repeated if not a.firing)]
        if ended:
            audit(
                self.session,
                self.ctx,
                incident,
                actor=self.actor,
                kind="alert.resolved",
                **common,
                fingerprints=[a.fingerprint for a in ended],
            )

    def _note_resolved(self, incident: m.Incident, touched: Touched) -> None:
        if touched.resolved:
            self.resolved_noted += len(touched.resolved)
            post(self.session, self.ctx, incident, notes.resolved(self.source, touched.resolved))
