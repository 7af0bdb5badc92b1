"""Milestones against the SLAs: the pure rules, then what the service reads from storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from commandpost.core.gates import Decision
from commandpost.core.milestones import MILESTONE_NAMES, Milestone, milestones
from commandpost.core.policy import Policy, SeverityPolicy
from commandpost.core.vocabulary import IncidentClass, Role, Severity, Status
from commandpost.service import gates, outbox
from commandpost.service.incidents import change_status, resolve
from commandpost.service.milestones import incident_milestones
from commandpost.service.ports import ManualClock

from .conftest import MakeCtx
from .support import RecordingExecutor, contain, declare_incident, staff

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SPEC = SeverityPolicy(
    ack_sla=timedelta(minutes=5),
    first_mitigation_sla=timedelta(minutes=15),
    notify_sla=timedelta(hours=1),
    update_cadence=timedelta(minutes=15),
    page=[Role.INCIDENT_COMMANDER],
)


def by_name(items: list[Milestone]) -> dict[str, Milestone]:
    return {item.name: item for item in items}


def test_reached_in_time_and_late() -> None:
    result = milestones(
        declared_at=T0,
        reached={
            "acknowledged": T0 + timedelta(minutes=5),  # exactly on the SLA: not breached
            "contained": T0 + timedelta(minutes=16),
            "notified": T0 + timedelta(minutes=30),
            "resolved": T0 + timedelta(hours=2),
        },
        spec=SPEC,
        now=T0 + timedelta(days=3),
    )
    assert [m.name for m in result] == list(MILESTONE_NAMES)
    got = by_name(result)
    assert got["acknowledged"] == Milestone(
        "acknowledged", T0 + timedelta(minutes=5), timedelta(minutes=5), timedelta(minutes=5), False
    )
    assert got["contained"].elapsed == timedelta(minutes=16) and got["contained"].breached
    assert not got["notified"].breached
    # The policy sets no resolve SLA here: nothing to breach.
    assert got["resolved"].sla is None and not got["resolved"].breached
    assert got["resolved"].elapsed == timedelta(hours=2)


def test_not_reached_breaches_only_once_its_sla_has_passed() -> None:
    early = by_name(
        milestones(declared_at=T0, reached={}, spec=SPEC, now=T0 + timedelta(minutes=4))
    )
    assert all(m.at is None and m.elapsed is None and not m.breached for m in early.values())
    late = by_name(
        milestones(declared_at=T0, reached={}, spec=SPEC, now=T0 + timedelta(minutes=20))
    )
    assert late["acknowledged"].breached and late["contained"].breached
    assert not late["notified"].breached  # 1h not yet gone


def test_a_resolved_incident_stops_the_clock_for_what_it_never_reached() -> None:
    result = by_name(
        milestones(
            declared_at=T0,
            reached={
                "acknowledged": T0 + timedelta(minutes=1),
                "resolved": T0 + timedelta(minutes=10),
            },
            spec=SPEC,
            now=T0 + timedelta(days=30),
        )
    )
    assert not result["contained"].breached  # resolved at 10m, inside the 15m SLA
    assert not result["notified"].breached


def test_unknown_milestone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown milestone"):
        milestones(declared_at=T0, reached={"mitigated": T0}, spec=SPEC, now=T0)


def test_service_reads_ack_containment_and_resolution(
    make_ctx: MakeCtx, clock: ManualClock
) -> None:
    ctx = make_ctx(executor=RecordingExecutor())
    incident = declare_incident(ctx, "Leak", IncidentClass.DATA_LEAKAGE, Severity.SEV0)
    clock.advance(timedelta(minutes=2))
    staff(ctx, incident, "alice")
    clock.advance(timedelta(minutes=1))
    staff(ctx, incident, "erin")
    change_status(ctx, incident, status=Status.INVESTIGATING, actor="alice")
    clock.advance(timedelta(minutes=7))
    gate = contain(ctx, incident, requester="alice")
    clock.advance(timedelta(minutes=10))
    gates.decide(ctx, gate, actor="erin", decision=Decision.APPROVE)
    outbox.deliver(ctx)
    got = by_name(incident_milestones(ctx, incident))
    assert got["acknowledged"].elapsed == timedelta(minutes=2)
    assert got["contained"].elapsed == timedelta(minutes=20)
    assert got["contained"].breached  # SEV0: 15 minutes
    assert got["resolved"].at is None
    clock.advance(timedelta(minutes=30))
    resolve(ctx, incident, actor="alice", summary="rolled back")
    got = by_name(incident_milestones(ctx, incident))
    assert got["resolved"].elapsed == timedelta(minutes=50)
    assert got["resolved"].sla == timedelta(days=1) and not got["resolved"].breached
    # SEV0 expects a notice within the hour; none was sent before the resolution at 50m.
    assert got["notified"].at is None and not got["notified"].breached


def test_policy_notify_and_resolve_slas_are_optional_and_checked(policy: Policy) -> None:
    assert policy.severity(Severity.SEV0).notify_sla == timedelta(hours=1)
    assert policy.severity(Severity.SEV3).resolve_sla is None  # optional: no target, no breach
    body = policy.model_dump(mode="json")
    body["severities"]["SEV1"]["resolve_sla"] = "0s"
    with pytest.raises(ValidationError, match="must be longer than zero"):
        Policy.model_validate(body)
    body["severities"]["SEV1"]["resolve_sla"] = "2d"
    assert Policy.model_validate(body).severity(Severity.SEV1).resolve_sla == timedelta(days=2)
