"""Several workers on one database: approvals, declarations and deadlines happen once.

Each thread has its own Context (its own engine and connections) on the test's database, as
separate replicas would. A Barrier releases them together so the operations really overlap.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import TypeVar

from sqlmodel import Session, select

from commandpost.core.gates import Decision, GateState
from commandpost.core.vocabulary import IncidentClass, Severity
from commandpost.errors import Conflict
from commandpost.service import audit_log, deadlines, gates, outbox
from commandpost.service.context import Context
from commandpost.service.incidents import Declaration, declare
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m

from .support import RecordingExecutor, contain, declaration, staff

T = TypeVar("T")


def run_together(workers: list[Callable[[], T]]) -> tuple[list[T], list[BaseException]]:
    """Start every worker at the same instant; collect results and errors."""
    barrier = threading.Barrier(len(workers))
    results: list[T] = []
    errors: list[BaseException] = []
    guard = threading.Lock()

    def run(work: Callable[[], T]) -> None:
        barrier.wait()
        try:
            value = work()
        except BaseException as exc:
            with guard:
                errors.append(exc)
        else:
            with guard:
                results.append(value)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return results, errors


def tool_use(title: str, severity: Severity = Severity.SEV1) -> Declaration:
    """An unauthorised-tool-use report: the kind of incident agents make."""
    return declaration(title, IncidentClass.UNAUTHORIZED_TOOL_USE, severity)


def test_two_approvers_at_once_execute_once(make_ctx: Callable[..., Context]) -> None:
    executor = RecordingExecutor()
    setup = make_ctx(executor)
    incident_id = declare(setup, tool_use("Agent deletes files")).id
    gate_id = contain(setup, incident_id, "rollback_model", {"model": "agent", "to_version": "v41"})
    staff(setup, incident_id, "alice", "erin")
    replicas = [make_ctx(executor) for _ in range(2)]

    def approve(ctx: Context, actor: str) -> GateState:
        return gates.decide(ctx, gate_id, actor=actor, decision=Decision.APPROVE)

    results, errors = run_together(
        [lambda: approve(replicas[0], "alice"), lambda: approve(replicas[1], "erin")]
    )
    assert results == [GateState.APPROVED]
    assert len(errors) == 1 and isinstance(errors[0], Conflict), errors

    # Both replicas run their outbox at once too: the execution is claimed by one of them.
    _, errors = run_together([partial(outbox.deliver, r) for r in replicas])
    assert errors == []
    assert executor.gate_ids == [gate_id]
    with Session(setup.engine) as s:
        decisions = list(s.exec(select(m.GateDecision).where(m.GateDecision.gate_id == gate_id)))
        executes = list(s.exec(select(m.OutboxItem).where(m.OutboxItem.kind == "execute")))
        gate = s.get(m.Gate, gate_id)
        approved = list(s.exec(select(m.AuditEvent).where(m.AuditEvent.kind == "gate.approve")))
    assert len(decisions) == 1 and len(executes) == 1 and len(approved) == 1
    assert executes[0].state == "delivered" and executes[0].attempts == 1
    assert gate is not None and (gate.state, gate.execution) == ("approved", "executed")


def test_same_person_clicking_twice_at_once(make_ctx: Callable[..., Context]) -> None:
    executor = RecordingExecutor()
    setup = make_ctx(executor)
    incident_id = declare(setup, tool_use("Runaway agent")).id
    gate_id = contain(setup, incident_id, "disable_tool", {"tool": "shell"})
    staff(setup, incident_id, "alice")
    replicas = [make_ctx(executor) for _ in range(4)]
    results, errors = run_together(
        [
            partial(gates.decide, r, gate_id, actor="alice", decision=Decision.APPROVE)
            for r in replicas
        ]
    )
    # Dual approval: four clicks by one person are one approval, never two.
    assert results == [GateState.PENDING]
    assert len(errors) == 3 and all(isinstance(e, Conflict) for e in errors)
    outbox.deliver(setup)
    assert executor.calls == []


def test_concurrent_declarations_get_unique_sequential_ids(
    make_ctx: Callable[..., Context],
) -> None:
    replicas = [make_ctx() for _ in range(20)]
    results, errors = run_together(
        [partial(declare, r, tool_use(f"Report {i}")) for i, r in enumerate(replicas)]
    )
    assert errors == []
    ids = sorted(incident.id for incident in results)
    assert ids == [f"INC-2026-{n:04d}" for n in range(1, 21)]
    with Session(replicas[0].engine) as s:
        declared = list(
            s.exec(select(m.AuditEvent).where(m.AuditEvent.kind == "incident.declared"))
        )
        snapshots = list(s.exec(select(m.PolicySnapshot)))
    assert sorted(e.incident_id or "" for e in declared) == ids
    assert len(snapshots) == 1
    assert audit_log.verify(replicas[0]).ok


def test_two_runners_fire_each_deadline_once(
    make_ctx: Callable[..., Context], clock: ManualClock
) -> None:
    setup = make_ctx()
    for n in range(3):
        incident_id = declare(setup, tool_use(f"Jailbreak {n}", Severity.SEV1)).id
        contain(setup, incident_id, "disable_endpoint", {"endpoint": f"/v1/chat/{n}"})
    with Session(setup.engine) as s:
        before = len(list(s.exec(select(m.Deadline))))
    runners = [make_ctx() for _ in range(2)]
    fired: list[int] = []
    # Two hours late: tier 1 escalates at once and tier 2 gets a fresh 10 minutes; then the
    # fallback runs when that passes too.
    for late in (timedelta(hours=2), timedelta(minutes=10)):
        clock.advance(late)
        results, errors = run_together([partial(deadlines.fire_due, r) for r in runners])
        assert errors == []
        fired += [f.deadline_id for batch in results for f in batch]
    assert len(fired) == len(set(fired)), "a deadline fired twice"
    with Session(setup.engine) as s:
        rows = list(s.exec(select(m.Deadline)))
        audited = Counter(
            e.data
            for e in s.exec(select(m.AuditEvent).where(m.AuditEvent.kind == "deadline.fired"))
        )
        gates_now = list(s.exec(select(m.Gate)))
        fallbacks = list(s.exec(select(m.AuditEvent).where(m.AuditEvent.kind == "gate.fallback")))
        executes = list(s.exec(select(m.OutboxItem).where(m.OutboxItem.kind == "execute")))
    assert {r.id for r in rows if r.state == "fired"} == set(fired)
    assert len(audited) == len(fired) and set(audited.values()) == {1}
    assert len(rows) > before  # firing scheduled follow-ups, which fired too
    assert not [r for r in rows if r.state == "pending" and r.due_at <= clock.now()]
    # Each gate ran its fallback exactly once.
    assert [g.state for g in gates_now] == ["fallback"] * 3
    assert len(fallbacks) == 3 and len(executes) == 3
    assert deadlines.fire_due(runners[0]) == []


def test_approval_racing_the_deadline_runner_ends_one_way(
    make_ctx: Callable[..., Context], clock: ManualClock
) -> None:
    """A director approves as the last tier's deadline fires: approved or fallback, never both.

    On PostgreSQL this used to deadlock (the runner held the deadline row and waited for the
    audit lock; the approver held the audit lock and waited to cancel the deadline).
    """
    setup = make_ctx()
    gate_ids = []
    for n in range(10):
        incident_id = declare(setup, tool_use(f"Prompt injection {n}")).id
        gate_id = contain(setup, incident_id, "disable_endpoint", {"endpoint": f"/v1/tools/{n}"})
        staff(setup, incident_id, "alice")
        gates.decide(setup, gate_id, actor="alice", decision=Decision.ESCALATE)
        gate_ids.append(gate_id)
    clock.advance(timedelta(minutes=10))  # the last tier's deadline is now
    runner, director = make_ctx(), make_ctx()

    def approve_all() -> dict[int, str]:
        seen: dict[int, str] = {}
        for gate_id in gate_ids:
            try:
                seen[gate_id] = gates.decide(
                    director, gate_id, actor="mo", decision=Decision.APPROVE
                ).value
            except Conflict:
                seen[gate_id] = "too late"
        return seen

    results, errors = run_together([lambda: deadlines.fire_due(runner), approve_all])
    assert errors == []
    approvals = next(r for r in results if isinstance(r, dict))
    with Session(setup.engine) as s:
        states = {g.id: g.state for g in s.exec(select(m.Gate))}
        executes = Counter(
            json.loads(item.body)["gate_id"]
            for item in s.exec(select(m.OutboxItem).where(m.OutboxItem.kind == "execute"))
        )
    for gate_id in gate_ids:
        expected = "fallback" if approvals[gate_id] == "too late" else "approved"
        assert states[gate_id] == expected
        assert executes[gate_id] == 1
