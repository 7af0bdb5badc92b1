"""Alert ingestion: a monitor's delivery opens, joins or notes incidents, in one transaction.

    ingest(ctx, source=…, body=…, received_at=…) → IngestResult
    prepare(ctx, source=…, body=…, received_at=…) → Prepared   (parsed; InvalidInput here)
    ingest_many(ctx, [Prepared, …])              → [IngestResult, …]   (one transaction)
    alert_tally(ctx, incident_id)                → AlertTally | None   (for the summary card)

What happens to each alert is decided by `core.alerts.plan_delivery`; here the store is read
for it and the plan carried out. A delivery already handled (same body from the same source,
within the redelivery window) changes nothing. An alert never resolves an incident, and every
incident it opens pages its roles and runs its timers like a declared one; a human decides
everything after that.

`ingest_many` is group commit: deliveries that arrived while another transaction ran are
handled one after another, as if each had its own transaction, but commit together (the
HTTP app's `GroupCommit` batches them). The audit trail records per transaction one
`alert.attached` (and one `alert.resolved`) event per incident and source, naming the
deliveries, the alert count and the fingerprints; channel notes stay per delivery.
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
    Delivery,
    NewIncident,
    Plan,
    notes,
    parse_delivery,
    plan_delivery,
    route,
)
from commandpost.core.alerts.ledger import AlertTally, Tally, Touched
from commandpost.core.effects import ChannelPost, DirectMessage
from commandpost.core.vocabulary import Role
from commandpost.service import alert_store as store
from commandpost.service.alert_incidents import AuditBatch
from commandpost.service.alert_store import Claim, Ledger
from commandpost.service.context import Context, enqueue
from commandpost.service.incidents import Declaration, declare_in
from commandpost.service.roles import holder
from commandpost.storage.engine import read_transaction, transaction

__all__ = [
    "AlertTally",
    "IngestResult",
    "Prepared",
    "alert_tally",
    "ingest",
    "ingest_many",
    "prepare",
]


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


@dataclass(frozen=True)
class Prepared:
    """A delivery parsed and stamped, ready for `ingest_many`."""

    source: AlertSource
    delivery: Delivery
    digest: str
    at: datetime


def prepare(
    ctx: Context, *, source: AlertSource, body: bytes, received_at: datetime | None = None
) -> Prepared:
    """Parse `body` (InvalidInput, before anything is written, if it is not `source`'s shape)."""
    delivery = parse_delivery(source, body)
    digest = hashlib.sha256(body).hexdigest()
    return Prepared(source, delivery, digest, received_at or ctx.now())


def ingest(
    ctx: Context, *, source: AlertSource, body: bytes, received_at: datetime | None = None
) -> IngestResult:
    """Parse first (InvalidInput writes nothing), then handle the delivery in one transaction."""
    (result,) = ingest_many(ctx, [prepare(ctx, source=source, body=body, received_at=received_at)])
    return result


def ingest_many(ctx: Context, deliveries: Sequence[Prepared]) -> list[IngestResult]:
    """Handle `deliveries` in order, in one transaction: all commit, or none does."""
    if not deliveries:
        return []
    rules = ctx.policy.alerts
    with transaction(ctx.engine) as session:
        # The year an incident opened now would be numbered in (what `declare` locks).
        store.lock_for_ingest(session, year=ctx.now().year)
        claims = [Claim(d.source, d.digest, len(d.delivery.alerts), d.at) for d in deliveries]
        settled = store.claim_deliveries(session, claims, window=rules.redelivery_window)
        keys = {
            (d.source.value, a.fingerprint)
            for d, (_, duplicate) in zip(deliveries, settled, strict=True)
            if not duplicate
            for a in d.delivery.alerts
        }
        since = min(d.at for d in deliveries) - rules.flood.window
        ledger = Ledger.load(session, keys, since=since)
        events = AuditBatch()
        results = []
        for item, (delivery_id, duplicate) in zip(deliveries, settled, strict=True):
            if duplicate:
                alerts = len(item.delivery.alerts)
                results.append(IngestResult(item.source, delivery_id, alerts, duplicate=True))
                continue
            run = _Run(session, ctx, ledger, events, item.source, delivery_id, item.at)
            results.append(run.carry_out(item.delivery.alerts))
        events.write(session, ctx)
        ledger.write(session)
        return results


def alert_tally(ctx: Context, incident_id: str) -> AlertTally | None:
    """The incident's alert counts for its summary card; None if no alert ever touched it."""
    with read_transaction(ctx.engine) as session:
        return store.tally_of(session, incident_id)


@dataclass
class _Run:
    """One delivery, carried out in the (shared) transaction."""

    session: Session
    ctx: Context
    ledger: Ledger
    events: AuditBatch
    source: AlertSource
    delivery_id: int
    at: datetime
    touched: dict[str, Tally] = field(default_factory=dict)  # in order
    resolved_noted: int = 0

    @property
    def actor(self) -> str:
        return f"alert:{self.source.value}"

    def carry_out(self, alerts: Sequence[Alert]) -> IngestResult:
        rules = self.ctx.policy.alerts
        spots = self.ledger.spots
        known = {
            a.fingerprint: spot.incident_id
            for a in alerts
            if (spot := spots.get((self.source.value, a.fingerprint))) is not None
        }
        # The flood rule only matters when something may open; a storm's repeats skip it.
        may_open = any(a.firing and a.fingerprint not in known for a in alerts)
        # An opening committed (or made earlier in this transaction) before this delivery was
        # handled happened before it, even when stamped later (its request was received after
        # this one, then handled first): counted as of `at`, or concurrent deliveries could
        # open past the flood limit.
        openings = self.ledger.openings(self.session) if may_open else []
        plan = plan_delivery(
            alerts,
            known=known,
            opened_at=[min(o, self.at) for o in openings],
            rules=rules,
            now=self.at,
        )
        return self._carry_out(plan, known=known, alerts=len(alerts))

    def _carry_out(self, plan: Plan, *, known: Mapping[str, str], alerts: int) -> IngestResult:
        opened = tuple(self._open(new) for new in plan.open)
        storm_id, storm_opened = self._storm(plan.storm) if plan.storm else (None, False)
        by_incident: dict[str, list[Alert]] = {}
        for item in plan.attach:
            by_incident.setdefault(item.incident_id, []).append(item.alert)
        for incident_id, attached in by_incident.items():
            self._attach(self.ledger.tallies[incident_id], attached, known=known)
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
            tallies={i: AlertTally.of(tally) for i, tally in self.touched.items()},
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
        incident = declare_in(
            self.session,
            self.ctx,
            self._declaration(new),
            extra_page=new.page,
            why=f"paged by alert route {new.lead.rule}",
        )
        tally = self.ledger.add_tally(
            self.session,
            incident,
            source=self.source,
            kind=store.ALERT,
            rule=new.lead.rule,
            group_key=new.group_key,
            at=self.at,
        )
        touched = self._record(tally, [(r.alert, r.rule) for r in new.alerts])
        self._audit(tally, touched, opened=True, rule=new.lead.rule)
        alerts = [r.alert for r in new.alerts]
        self._post(tally, notes.opened(self.source, new.lead, alerts))
        self._note_resolved(tally, touched)
        return incident.id

    def _storm(self, groups: Sequence[NewIncident]) -> tuple[str, bool]:
        rules = self.ctx.policy.alerts
        tally = self.ledger.storm(self.session)
        if tally is None:
            spec = Declaration(
                title=rules.storm.title,
                klass=rules.storm.klass,
                severity=rules.storm.severity,
                declared_by=self.actor,
                description="Alerts past the flood limit, grouped in one incident.",
                trigger=f"{self.actor}:storm",
            )
            incident = declare_in(
                self.session, self.ctx, spec, extra_page=rules.storm.page, why="alert storm"
            )
            tally = self.ledger.add_tally(
                self.session,
                incident,
                source=self.source,
                kind=store.STORM,
                rule="storm",
                group_key="",
                at=self.at,
            )
            quiet = opened = True
        else:
            # The IC hears of a storm once, and again only after it had gone quiet.
            quiet, opened = tally.last_alert_at <= self.at - rules.flood.window, False
        pairs = [(r.alert, r.rule) for group in groups for r in group.alerts]
        touched = self._record(tally, pairs)
        self._audit(tally, touched, storm=True)
        self._post(tally, notes.stormed(self.source, [g.alerts for g in groups], rules.flood))
        self._note_resolved(tally, touched)
        ic = holder(self.session, tally.incident_id, Role.INCIDENT_COMMANDER)
        if quiet and ic is not None:
            text = notes.storm_for_ic(tally.incident_id, rules.flood)
            effect = DirectMessage(person_id=ic.person_id, text=text, incident_id=tally.incident_id)
            enqueue(self.session, self.ctx, effect)
        return tally.incident_id, opened

    def _attach(self, tally: Tally, alerts: list[Alert], *, known: Mapping[str, str]) -> None:
        rules = self.ctx.policy.alerts
        # The rule is kept for fingerprints new to the incident; routing is cheap.
        pairs = [(a, "" if a.fingerprint in known else route(a, rules).rule) for a in alerts]
        touched = self._record(tally, pairs)
        self._audit(tally, touched)
        if touched.new or touched.refired:
            self._post(tally, notes.attached(self.source, touched.new, touched.refired))
        self._note_resolved(tally, touched)

    def _record(self, tally: Tally, pairs: list[tuple[Alert, str]]) -> Touched:
        self.touched[tally.incident_id] = tally
        return self.ledger.record(tally, source=self.source, alerts=pairs, at=self.at)

    def _audit(self, tally: Tally, touched: Touched, **extra: Any) -> None:
        self.events.add(
            tally, source=self.source, delivery=self.delivery_id, touched=touched, **extra
        )

    def _post(self, tally: Tally, text: str) -> None:
        effect = ChannelPost(channel=tally.channel, text=text, incident_id=tally.incident_id)
        enqueue(self.session, self.ctx, effect)

    def _note_resolved(self, tally: Tally, touched: Touched) -> None:
        if touched.resolved:
            self.resolved_noted += len(touched.resolved)
            self._post(tally, notes.resolved(self.source, touched.resolved))
