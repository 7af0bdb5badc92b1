"""Running a drill through the real service, storage and deadlines, on a simulated clock.

Each drill gets a fresh SQLite database in a temporary directory (removed afterwards, pass or
fail), a `ManualClock` and a console transcript. Deadlines fire as a running scheduler would:
the clock stops at each due time on its way, so the transcript shows when things happened.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn, TextIO

from commandpost.chat.console import ConsoleChat, TranscriptLine
from commandpost.core.durations import format_duration
from commandpost.core.gates import Decision
from commandpost.core.policy import ManualExecutor
from commandpost.drills.checks import evaluate
from commandpost.drills.model import (
    Ack,
    ActionStep,
    Advance,
    Assign,
    ChangeSeverity,
    ChangeStatus,
    Close,
    ConfirmManual,
    Contain,
    Decide,
    Declare,
    Drill,
    Expect,
    Note,
    Resolve,
    Restore,
    ReviewDone,
    Step,
    Update,
)
from commandpost.errors import DrillFailed, NotFound, UserError
from commandpost.evidence import LocalEvidenceStore
from commandpost.runtime import build_context
from commandpost.service import deadlines, gates, incidents, outbox, review, roles
from commandpost.service.context import Context
from commandpost.service.origin import acting_from
from commandpost.service.ports import ExecutionRequest, ExecutionResult, ManualClock
from commandpost.storage.migrate import upgrade

# What each kind of step looks like when a person types it in chat (fields by name).
TYPED = {
    "ack": "/incident ack {role}",
    "assign": "/incident assign {role} @{to}",
    "handover": "/incident handover {role} @{to}",
    "status": "/incident status {to} {note}",
    "severity": "/incident sev {to} {reason}",
    "note": "/incident note {text}",
    "evidence": "/incident evidence {text}",
    "confirm_manual": "/incident confirm {gate} {note}",
    "restore": "/incident restore {gate} {reason}",
    "update": "/incident update {text}",
    "resolve": "/incident resolve {summary}",
    "review_done": "/incident review done",
    "close": "/incident close",
}


@dataclass(frozen=True)
class ExecutedCall:
    action: str
    mode: str
    params: dict[str, Any]
    gate_id: int


class DrillExecutor:
    """Stands in for the operator's model control plane (not our code): records every call.

    Webhook actions succeed at once; manual ones come back `manual`, as the real executor
    does, so a person has to confirm them in the drill.
    """

    def __init__(self, emit: Callable[[str, str], None]) -> None:
        self._emit = emit
        self.calls: list[ExecutedCall] = []

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        name, action, params, mode = request.name, request.action, request.params, request.mode
        self.calls.append(ExecutedCall(name, mode, dict(params), request.gate_id))
        shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
        if isinstance(action.executor, ManualExecutor):
            self._emit("executor", f"{name}({shown}) [{mode}] is a manual step for a person")
            return ExecutionResult("manual", action.executor.instructions)
        self._emit("control-plane", f"{name}({shown}) [{mode}] -> done (drill stand-in)")
        return ExecutionResult("done", "drill control plane accepted")


@dataclass
class DrillReport:
    name: str
    source: str
    steps: int
    checks: int
    incident_id: str | None
    # The post-incident review as the drill left it (None: the incident was not resolved).
    review: str | None = None


def run_drill(drill: Drill, *, out: TextIO) -> DrillReport:
    """Run every step; DrillFailed names the first step that did not go as scripted."""
    with tempfile.TemporaryDirectory(prefix="commandpost-drill-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'drill.db'}"
        upgrade(url)
        clock = ManualClock(drill.start)
        chat = ConsoleChat(clock, stream=out)

        def emit(where: str, text: str) -> None:
            out.write(TranscriptLine(clock.now(), where, text, None).render() + "\n")

        executor = DrillExecutor(emit)
        ctx = build_context(
            database_url=url, policy=drill.policy, clock=clock, chat=chat, executor=executor
        )
        # A rehearsal's evidence is sealed in its sandbox, never in the real store.
        ctx.evidence = LocalEvidenceStore(Path(tmp) / "evidence")
        try:
            run = _Run(drill, ctx=ctx, clock=clock, chat=chat, executor=executor, emit=emit)
            emit("drill", f"{drill.name} ({drill.source}), policy {drill.policy.version()}")
            with acting_from("drill"):
                for index, step in enumerate(drill.steps):
                    run.step(index, step)
            emit("drill", f"PASSED: {len(drill.steps)} steps, {run.checks} checks held")
            return DrillReport(
                drill.name,
                drill.source,
                len(drill.steps),
                run.checks,
                run.incident_id,
                run.review_text(),
            )
        finally:
            ctx.engine.dispose()


class _Run:
    def __init__(
        self,
        drill: Drill,
        *,
        ctx: Context,
        clock: ManualClock,
        chat: ConsoleChat,
        executor: DrillExecutor,
        emit: Callable[[str, str], None],
    ) -> None:
        self.drill, self.ctx, self.clock, self.chat = drill, ctx, clock, chat
        self.executor, self.emit = executor, emit
        self.incident_id: str | None = None
        self.labels: dict[str, int] = {}
        self.fired: list[str] = []
        self.checks = 0
        self.index = 0

    # -- steps ---------------------------------------------------------------------------

    def step(self, index: int, step: Step) -> None:
        self.index = index
        if isinstance(step, Advance):
            self._advance(step.by, down=step.down)
        elif isinstance(step, Expect):
            self._expect(step)
        else:
            self._act(step)

    def _act(self, step: ActionStep) -> None:
        who = step.actor()
        self.chat.say(who, self._typed(step))
        try:
            self._perform(step)
        except UserError as exc:
            outbox.deliver(self.ctx)
            wanted = step.expect_error
            if wanted is not None and wanted.lower() in str(exc).lower():
                self.emit(f"(only @{who} sees)", f"refused, as expected: {exc}")
                self.checks += 1
                return
            self.emit(f"(only @{who} sees)", f"refused: {exc}")
            if wanted is not None:
                self._fail(f"expected a refusal containing {wanted!r}, found: {exc}")
            self._fail(f"refused: {exc}")
        outbox.deliver(self.ctx)
        if step.expect_error is not None:
            self._fail(f"expected a refusal containing {step.expect_error!r}, but it went through")

    def _perform(self, step: ActionStep) -> None:
        ctx = self.ctx
        if isinstance(step, Declare):
            incident = incidents.declare(ctx, _declaration(step))
            self.incident_id = incident.id
            return
        iid = self._incident()
        if isinstance(step, Ack):
            roles.acknowledge(ctx, iid, person_id=step.who, role=step.role)
        elif isinstance(step, Assign):
            roles.assign(
                ctx,
                iid,
                role=step.role,
                person_id=step.to,
                actor=step.by,
                handover=step.kind == "handover",
            )
        elif isinstance(step, ChangeStatus):
            incidents.change_status(ctx, iid, status=step.to, actor=step.by, note=step.note)
        elif isinstance(step, ChangeSeverity):
            gate = incidents.change_severity(
                ctx, iid, severity=step.to, actor=step.by, reason=step.reason
            )
            self._name_gate(step.label, gate)
        elif isinstance(step, Note):
            incidents.add_note(
                ctx, iid, actor=step.by, text=step.text, evidence=step.kind == "evidence"
            )
        elif isinstance(step, Contain):
            gate = gates.request_containment(
                ctx,
                iid,
                action=step.action,
                params=dict(step.params),
                requester=step.by,
                reason=step.reason,
            )
            self._name_gate(step.defines(), gate)
        elif isinstance(step, Decide):
            gates.decide(
                ctx,
                self._gate(step.gate),
                actor=step.who,
                decision=Decision(step.kind),
                reason=step.reason,
            )
        elif isinstance(step, ConfirmManual):
            gates.confirm_manual(ctx, self._gate(step.gate), actor=step.who, note=step.note)
        elif isinstance(step, Restore):
            gate = gates.request_restore(
                ctx, iid, gate_id=self._gate(step.gate), requester=step.by, reason=step.reason
            )
            self._name_gate(step.label, gate)
        elif isinstance(step, Update):
            incidents.post_update(ctx, iid, actor=step.by, text=step.text)
        elif isinstance(step, Resolve):
            incidents.resolve(ctx, iid, actor=step.by, summary=step.summary)
        elif isinstance(step, ReviewDone):
            review.mark_done(ctx, iid, actor=step.by)
        elif isinstance(step, Close):
            incidents.close(ctx, iid, actor=step.by)

    def _typed(self, step: ActionStep) -> str:
        """What the person typed or clicked, as the transcript shows it."""
        if isinstance(step, Declare):
            extra = "".join(
                f" {k}={v}"
                for k in ("model", "model_version", "surface", "tenant", "region")
                if (v := getattr(step, k))
            )
            return f'/incident declare {step.severity} {step.klass} "{step.title}"{extra}'
        if isinstance(step, Decide):
            tail = f": {step.reason}" if step.reason else ""
            return f"[{step.kind.capitalize()}] on gate {self._gate_name(step.gate)}{tail}"
        if isinstance(step, Contain):
            params = "".join(f" {k}={v}" for k, v in step.params.items())
            return f"/incident contain {step.action}{params}" + (
                f" -- {step.reason}" if step.reason else ""
            )
        values = {k: "" if v is None else str(v) for k, v in dict(step).items()}
        if (gate := step.gate_ref()) is not None:
            values["gate"] = self._gate_name(gate)
        return TYPED[step.kind].format(**values).rstrip()

    def _advance(self, by: timedelta, *, down: bool) -> None:
        target = self.clock.now() + by
        note = " (Command Post is down meanwhile)" if down else ""
        self.emit("clock", f"+{format_duration(by)}, until {target:%H:%M:%S}Z{note}")
        # A running scheduler fires each deadline at its due time; a stopped one fires what
        # it missed at once when it comes back, which `down: true` shows.
        while not down:
            due = [d.due_at for d in deadlines.pending_deadlines(self.ctx) if d.due_at <= target]
            if not due:
                break
            self.clock.set(max(self.clock.now(), min(due)))
            if not self._fire_due():
                break
        self.clock.set(target)
        self._fire_due()

    def _fire_due(self) -> int:
        """Fire what is due one deadline at a time, so each one's posts follow it."""
        count = 0
        while fired := deadlines.fire_due(self.ctx, limit=1):
            for item in fired:
                text = self._describe(item)
                self.fired.append(text)
                late = timedelta(seconds=item.lateness_seconds)
                when = f"due {item.due_at:%H:%M:%S}Z" + (
                    f", {format_duration(late)} late" if late >= timedelta(seconds=1) else ""
                )
                self.emit("deadline", f"{text} ({when})")
                count += 1
            outbox.deliver(self.ctx)
        return count

    def _describe(self, item: deadlines.Fired) -> str:
        """`ack incident_commander: paged bob`, `gate rollback: escalated to tier 2`, ..."""
        if item.kind == "gate":
            return f"gate {self._label_of(item.subject)}: {item.outcome}"
        if item.kind == "ack":
            return f"ack {item.subject}: {item.outcome}"
        return f"{item.kind}: {item.outcome}"

    def _expect(self, step: Expect) -> None:
        results = evaluate(
            step,
            ctx=self.ctx,
            incident_id=self._incident(),
            labels=self.labels,
            fired=self.fired,
            calls=[(c.action, c.mode) for c in self.executor.calls],
            chat=self.chat,
        )
        for name, expected, found, ok in results:
            mark = "ok" if ok else "FAILED"
            self.emit(f"expect {mark}", f"{name}: {expected}" + ("" if ok else f" (found {found})"))
        for name, expected, found, ok in results:
            if not ok:
                self._fail(f"{name}: expected {expected}, found {found}")
        self.checks += len(results)
        self.fired = []

    # -- helpers -------------------------------------------------------------------------

    def review_text(self) -> str | None:
        if self.incident_id is None:
            return None
        try:
            return review.get(self.ctx, self.incident_id).text
        except NotFound:
            return None

    def _incident(self) -> str:
        if self.incident_id is None:
            self._fail("no incident yet: its declaration was refused")
        return self.incident_id

    def _name_gate(self, label: str | None, gate_id: int | None) -> None:
        if label is None:
            return
        if gate_id is None:
            self._fail(f"no gate was opened to label {label!r} (an upgrade applies at once)")
        self.labels[label] = gate_id

    def _gate(self, label: str) -> int:
        if label not in self.labels:
            self._fail(f"gate {label!r} was never opened: the step that requests it was refused")
        return self.labels[label]

    def _gate_name(self, label: str) -> str:
        """A gate as people see it: the drill's label and the bot's number."""
        gate = self.labels.get(label)
        return f"{label} (#{gate})" if gate is not None else label

    def _label_of(self, gate_id: str) -> str:
        names = [label for label, number in self.labels.items() if str(number) == gate_id]
        return names[0] if names else f"#{gate_id}"

    def _fail(self, message: str) -> NoReturn:
        line = self.drill.lines[self.index]
        at = f" (line {line})" if line is not None else ""
        text = f"{self.drill.where(self.index)}: {message}{at}"
        self.emit("drill", f"FAILED: {text}")
        raise DrillFailed(text)


def _declaration(step: Declare) -> incidents.Declaration:
    return incidents.Declaration(
        title=step.title,
        klass=step.klass,
        severity=step.severity,
        declared_by=step.by,
        model=step.model,
        model_version=step.model_version,
        surface=step.surface,
        tenant=step.tenant,
        region=step.region,
        description=step.description,
        trigger=step.trigger,
    )
