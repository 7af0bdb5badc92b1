"""Declaring skips look-ups that cannot find anything for a new incident and writes its pages
and timers as plain rows: the rows, audit events and outbox intents must stay what the policy
asks for, and a policy snapshot rolled back must not be remembered as stored."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, col, select

from commandpost.core import deadlines as due
from commandpost.core.vocabulary import IncidentClass, Severity
from commandpost.service import audit_log
from commandpost.service.context import Context
from commandpost.service.incidents import store_policy
from commandpost.storage import models as m
from commandpost.storage.engine import transaction

from .support import START, audit_kinds, declare_incident


@pytest.mark.parametrize("severity", [Severity.SEV1, Severity.SEV3])
def test_a_declaration_writes_what_the_policy_asks_for(ctx: Context, severity: Severity) -> None:
    incident_id = declare_incident(
        ctx, "Bot leaks order history", IncidentClass.DATA_LEAKAGE, severity
    )
    policy = ctx.policy
    spec = policy.severity(severity)
    chains = [(role, policy.rotations[role].chain()) for role in spec.page]
    with Session(ctx.engine) as s:
        roles = s.exec(
            select(m.RoleAssignment)
            .where(m.RoleAssignment.incident_id == incident_id)
            .order_by(col(m.RoleAssignment.id))
        ).all()
        deadlines = s.exec(
            select(m.Deadline)
            .where(m.Deadline.incident_id == incident_id)
            .order_by(col(m.Deadline.id))
        ).all()
        outbox = s.exec(
            select(m.OutboxItem)
            .where(m.OutboxItem.incident_id == incident_id)
            .order_by(col(m.OutboxItem.id))
        ).all()
    assert [
        (r.role, r.person_id, r.chain, r.chain_step, r.paged_at, r.acknowledged_at) for r in roles
    ] == [(role.value, chain[0], ",".join(chain), 0, START, None) for role, chain in chains]
    assert all(r.active and not r.unfilled and r.ended_at is None for r in roles)
    expected = [
        due.ack_due(role=role.value, step=0, paged_at=START, ack_sla=spec.ack_sla)
        for role, _ in chains
    ]
    mitigation = due.mitigation_due(declared_at=START, sla=spec.first_mitigation_sla)
    expected += [mitigation] if mitigation is not None else []
    expected.append(due.cadence_due(last_update_at=START, cadence=spec.update_cadence))
    assert [(d.kind, d.subject, d.step, d.due_at, d.state) for d in deadlines] == [
        (e.kind.value, e.subject, e.step, e.due_at, "pending") for e in expected
    ]
    assert all(d.fired_at is None and d.lateness_seconds is None for d in deadlines)
    assert [o.kind for o in outbox] == ["open_channel", "post", "post"] + ["direct"] * len(chains)
    assert [json.loads(o.body)["person_id"] for o in outbox[3:]] == [c[0] for _, c in chains]
    assert audit_kinds(ctx, incident_id) == ["incident.declared"] + ["role.paged"] * len(chains)
    assert audit_log.verify(ctx).ok


def test_a_rolled_back_policy_snapshot_is_not_remembered(ctx: Context) -> None:
    with pytest.raises(RuntimeError), transaction(ctx.engine) as session:
        store_policy(session, ctx)
        store_policy(session, ctx)  # finds its own uncommitted write
        raise RuntimeError("roll back")
    with Session(ctx.engine) as s:
        assert s.get(m.PolicySnapshot, ctx.policy.version()) is None
    declare_incident(ctx, "First after the rollback", IncidentClass.DATA_LEAKAGE)
    declare_incident(ctx, "Second", IncidentClass.DATA_LEAKAGE)
    with Session(ctx.engine) as s:
        assert s.get(m.PolicySnapshot, ctx.policy.version()) is not None
