"""The facts a notice is rendered from: the policy's standing facts, then the incident's
own (its row and timeline), then what the drafter gave, each layer winning over the last.

Times are written the way a notice prints them ("14:05 UTC on 2 March 2026"): the lint
accepts a date a notice commits to only when that exact text is among the facts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from commandpost.core.policy import Policy
from commandpost.core.vocabulary import Role, Severity
from commandpost.service.roles import holder
from commandpost.storage import models as m


def notice_time(at: datetime) -> str:
    return f"{at:%H:%M} UTC on {at.day} {at:%B %Y}"


def incident_facts(
    session: Session,
    policy: Policy,
    incident: m.Incident,
    *,
    now: datetime,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Every fact known for `incident`; a blank override removes a fact rather than blanking
    it, so the renderer names it as missing instead of printing a hole."""
    facts: dict[str, Any] = dict(policy.notices.facts)
    facts.update(_from_incident(session, policy, incident, now=now))
    for key, value in (overrides or {}).items():
        if value is None or (isinstance(value, str) and not value.strip()):
            facts.pop(key, None)
        else:
            facts[key] = value
    return facts


def _from_incident(
    session: Session, policy: Policy, incident: m.Incident, *, now: datetime
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "incident_id": incident.id,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "observed": (incident.description or incident.title).strip(),
        "summary": incident.title.strip(),
        "detected_at": notice_time(incident.declared_at),
        "next_update_at": notice_time(_next_update(policy, incident, now=now)),
    }
    for key in ("model", "model_version", "surface", "tenant", "region"):
        value = getattr(incident, key)
        if value:
            found[key] = value
    if incident.surface and "product" not in policy.notices.facts:
        found["product"] = incident.surface
    for key in ("contained_at", "resolved_at"):
        at = getattr(incident, key)
        if at is not None:
            found[key] = notice_time(at)
    affected, short = _affected(incident)
    if affected:
        found["affected"], found["affected_summary"] = affected, short
    commander = holder(session, incident.id, Role.INCIDENT_COMMANDER)
    if commander is not None:
        person = policy.person(commander.person_id)
        found["commander"] = person.name if person else commander.person_id
    update = _last_update(session, incident.id)
    if update:
        found["update"] = update
    return found


def _next_update(policy: Policy, incident: m.Incident, *, now: datetime) -> datetime:
    """When the status-update cadence next falls due; a cadence already missed counts from
    now (a notice must not promise a time that has passed)."""
    cadence = policy.severity(Severity(incident.severity)).update_cadence
    due = incident.last_update_at + cadence
    if due <= now:
        due = now + cadence
    # Up to the next whole minute: the notice prints minutes, and must not promise earlier.
    return (due + timedelta(seconds=59, microseconds=999_999)).replace(second=0, microsecond=0)


def _affected(incident: m.Incident) -> tuple[str | None, str | None]:
    """A sentence and a short phrase naming the affected surface, or (None, None)."""
    parts = [incident.surface, incident.model, incident.tenant, incident.region]
    if not any(parts):
        return None, None
    sentence = f"Requests to {incident.surface}" if incident.surface else "Requests"
    if incident.model:
        sentence += f" served by {incident.model}"
        if incident.model_version:
            sentence += f" version {incident.model_version}"
    if incident.tenant:
        sentence += f" for tenant {incident.tenant}"
    if incident.region:
        sentence += f" in region {incident.region}"
    short = ", ".join(p for p in (incident.surface or incident.model, incident.region) if p)
    return sentence + ".", short


def _last_update(session: Session, incident_id: str) -> str | None:
    row = session.exec(
        select(m.AuditEvent.data)
        .where(m.AuditEvent.incident_id == incident_id, m.AuditEvent.kind == "status.update")
        .order_by(col(m.AuditEvent.seq).desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    text = json.loads(row).get("text")
    return str(text) if text else None
