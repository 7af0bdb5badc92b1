"""Opening an incident for alerts, inside the ingestion's own transaction.

It is `incidents.declare` step for step (policy snapshot, number, channel, pages for the
severity, SLA timers) so an alert-opened incident pages and times exactly like a declared one;
two things differ, which is why it is not a call to `declare`:
- it runs in the caller's transaction, so a delivery's bookkeeping and the incidents it opens
  commit together or not at all;
- the declarer is the monitor ("alert:<source>"), not a person in the policy, which `declare`
  (rightly, for people) refuses.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from commandpost.core.vocabulary import Role, Status
from commandpost.service.context import Context, audit
from commandpost.service.ids import channel_name, format_incident_id, next_number
from commandpost.service.incident_changes import schedule_sla_timers
from commandpost.service.incidents import Declaration, enqueue_channel_open, store_policy
from commandpost.service.roles import holder, page_for_severity, page_role
from commandpost.storage import models as m


def open_incident(
    session: Session,
    ctx: Context,
    spec: Declaration,
    *,
    extra_page: Sequence[Role] = (),
    why: str = "paged by the alert route",
) -> m.Incident:
    store_policy(session, ctx)
    now = ctx.now()
    number = next_number(session, now.year)
    incident_id = format_incident_id(now.year, number)
    incident = m.Incident(
        id=incident_id,
        year=now.year,
        number=number,
        title=spec.title.strip(),
        klass=spec.klass.value,
        severity=spec.severity.value,
        status=Status.DECLARED.value,
        model=spec.model,
        model_version=spec.model_version,
        surface=spec.surface,
        tenant=spec.tenant,
        region=spec.region,
        description=spec.description,
        trigger=spec.trigger,
        channel=channel_name(incident_id, spec.title),
        policy_version=ctx.policy.version(),
        declared_by=spec.declared_by,
        declared_at=now,
        last_update_at=now,
    )
    session.add(incident)
    session.flush()
    audit(
        session,
        ctx,
        incident,
        actor=spec.declared_by,
        kind="incident.declared",
        title=incident.title,
        klass=incident.klass,
        severity=incident.severity,
        surface=incident.surface,
        model=incident.model,
        model_version=incident.model_version,
        trigger=incident.trigger,
    )
    enqueue_channel_open(session, ctx, incident)
    page_for_severity(session, ctx, incident, actor="commandpost")
    schedule_sla_timers(session, ctx, incident)
    for role in extra_page:
        if holder(session, incident.id, role) is None:
            chain = ctx.policy.rotations[role].chain()
            page_role(session, ctx, incident, role=role, chain=chain, actor="commandpost", why=why)
    return incident
