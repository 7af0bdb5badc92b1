"""Expectations: what a drill says should hold, compared with what the service stored.

Every check reads the database (or the transcript) afresh, so a drill proves what was
committed, not what the runner believes it asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlmodel import col, select

from commandpost.chat.console import ConsoleChat
from commandpost.drills.model import Expect, GateExpect
from commandpost.service import audit_log, deadlines, incidents, roles
from commandpost.service.context import Context
from commandpost.storage import models as m
from commandpost.storage.engine import transaction

# (what is checked, what was expected, what was found, whether it held)
Result = tuple[str, str, str, bool]


def evaluate(
    step: Expect,
    *,
    ctx: Context,
    incident_id: str,
    labels: Mapping[str, int],
    fired: Sequence[str],
    calls: Sequence[tuple[str, str]],
    chat: ConsoleChat,
) -> list[Result]:
    incident = incidents.get_incident(ctx, incident_id)
    with transaction(ctx.engine) as session:
        held = {r.role: r for r in roles.active_assignments(session, incident_id)}
        gates: dict[int, m.Gate] = {}
        for gate_row in session.exec(select(m.Gate).where(m.Gate.incident_id == incident_id)):
            assert gate_row.id is not None
            gates[gate_row.id] = gate_row
        approvals = list(
            session.exec(
                select(m.GateDecision).where(
                    col(m.GateDecision.gate_id).in_(list(gates)),
                    m.GateDecision.decision == "approve",
                )
            )
        )
    names = {gate_id: label for label, gate_id in labels.items()}
    results: list[Result] = []

    def check(name: str, expected: str, found: str, ok: bool | None = None) -> None:
        results.append((name, expected, found, expected == found if ok is None else ok))

    if step.status is not None:
        check("status", step.status.value, incident.status)
    if step.severity is not None:
        check("severity", step.severity.value, incident.severity)
    for role, person in (step.roles or {}).items():
        row = held.get(role.value)
        ok = row is not None and row.person_id == person and row.acknowledged_at is not None
        check(f"roles.{role.value}", f"{person} (acknowledged)", _holder(row), ok)
    for role, person in (step.paged or {}).items():
        row = held.get(role.value)
        ok = row is not None and row.person_id == person and row.acknowledged_at is None
        check(f"paged.{role.value}", f"{person} (paged, not acknowledged)", _holder(row), ok)
    if step.unfilled is not None:
        empty = sorted(r.role for r in held.values() if r.unfilled)
        check("unfilled", _list(sorted(r.value for r in step.unfilled)), _list(empty))
    for label, want in (step.gates or {}).items():
        gate = gates.get(labels.get(label, -1))
        if gate is None:
            check(f"gates.{label}", "a gate", "none was opened (its request was refused)", False)
            continue
        who = sorted(a.person_id for a in approvals if a.gate_id == gate.id)
        results.extend(_gate_checks(label, want, gate, who))
    if step.executed is not None:
        ran = sorted(names.get(g, f"#{g}") for g, row in gates.items() if _ran(row))
        check("executed", _list(sorted(set(step.executed))), _list(ran))
    if step.actions_run is not None:
        seen = [action if mode == "contain" else f"{action} {mode}" for action, mode in calls]
        check("actions_run", _list(step.actions_run), _list(seen))
    if isinstance(step.fired, int):
        check("fired", f"{step.fired} deadline(s)", f"{len(fired)}: {_list(fired)}",
              len(fired) == step.fired)  # fmt: skip
    elif step.fired is not None:
        check("fired", _list(step.fired), _list(fired), _in_order(step.fired, fired))
    if step.pending_deadlines is not None:
        pending = [f"{d.kind} {d.subject}" for d in deadlines.pending_deadlines(ctx, incident_id)]
        check("pending_deadlines", str(step.pending_deadlines), f"{len(pending)}: "
              f"{_list(pending)}", len(pending) == step.pending_deadlines)  # fmt: skip
    if step.audit_valid is not None:
        report = audit_log.verify(ctx)
        chain = (
            f"valid ({report.count} events)"
            if report.ok
            else f"broken at seq {report.first_bad_seq}: {report.reason}"
        )
        check("audit_valid", "valid" if step.audit_valid else "broken", chain,
              report.ok == step.audit_valid)  # fmt: skip
    channel = f"#{incident.channel}"
    for text in step.channel_contains or []:
        ok = _mentions(chat.messages_to(channel), text)
        check("channel_contains", repr(text), "in the channel" if ok else "no such post", ok)
    for person, texts in (step.dm_contains or {}).items():
        for text in texts:
            ok = _mentions(chat.messages_to(f"DM @{person}"), text)
            check(f"dm_contains.{person}", repr(text), "in a DM" if ok else "no such DM", ok)
    return results


def _gate_checks(label: str, want: GateExpect, gate: m.Gate, approvers: list[str]) -> list[Result]:
    found: list[Result] = []
    name = f"gates.{label}"
    if want.state is not None:
        found.append((f"{name}.state", want.state.value, gate.state, want.state == gate.state))
    if want.tier is not None:
        tier = gate.tier + 1
        found.append((f"{name}.tier", str(want.tier), str(tier), want.tier == tier))
    if want.execution is not None:
        state = gate.execution or "none"
        found.append((f"{name}.execution", want.execution, state, want.execution == state))
    if want.approved_by is not None:
        wanted = sorted(want.approved_by)
        found.append((f"{name}.approved_by", _list(wanted), _list(approvers), wanted == approvers))
    return found


def _ran(gate: m.Gate) -> bool:
    return gate.execution == "executed"


def _holder(row: m.RoleAssignment | None) -> str:
    if row is None:
        return "nobody"
    if row.acknowledged_at is not None:
        return f"{row.person_id} (acknowledged)"
    return f"{row.person_id} ({'unfilled' if row.unfilled else 'paged, not acknowledged'})"


def _list(items: Iterable[str]) -> str:
    return "; ".join(items) or "none"


def _mentions(messages: Iterable[str], text: str) -> bool:
    return any(text.lower() in message.lower() for message in messages)


def _in_order(wanted: Sequence[str], fired: Sequence[str]) -> bool:
    """Each wanted description is part of a fired one, in the same order; others may interleave."""
    remaining = iter(fired)
    return all(any(w.lower() in f.lower() for f in remaining) for w in wanted)
