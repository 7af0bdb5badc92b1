"""What playing a drill through a chat platform shares (tests/test_slack_drill_e2e.py,
tests/test_teams_drill_e2e.py): the walk over the steps, the translation of each action
step into a chat command, moving the clock as the drill runner does, and checking `expect`
steps with the drill's own `evaluate`. A subclass says how a request is sent and how the
chat is read back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from commandpost.chat.slack import commands as c
from commandpost.drills import model as dm
from commandpost.drills.checks import evaluate
from commandpost.drills.model import Drill
from commandpost.drills.runner import DrillExecutor
from commandpost.service import deadlines
from commandpost.service.context import Context
from commandpost.service.ports import ManualClock


class DrillPlayer:
    """Plays a drill's steps; the clock is the drill's (a ManualClock in the served app's
    context). `refusals` counts the expected refusals seen, each a check held."""

    platform = "chat"

    def __init__(self, ctx: Context, *, clock: ManualClock, executor: DrillExecutor) -> None:
        self.ctx, self.clock, self.executor = ctx, clock, executor
        self.incident_id: str | None = None
        self.labels: dict[str, int] = {}
        self.fired: list[str] = []
        self.refusals = 0

    # -- what a platform provides
    def messages_to(self, where: str) -> list[str]:
        """The drill's view of the chat (`#inc-…` or `DM @person`)."""
        raise NotImplementedError

    def settled(self) -> None:
        """Everything the last step queued reached the chat."""
        raise NotImplementedError

    def command(self, person: str, cmd: c.Command, expect_error: str | None) -> None:
        raise NotImplementedError

    def declare(self, step: dm.Declare) -> None:
        raise NotImplementedError

    def ack(self, person: str, role: Any, expect_error: str | None) -> None:
        raise NotImplementedError

    def decide(self, step: dm.Decide) -> None:
        raise NotImplementedError

    def newest_gate(self) -> int:
        raise NotImplementedError

    # -- steps
    def play(self, drill: Drill) -> int:
        checks = 0
        for step in drill.steps:
            if isinstance(step, dm.Expect):
                checks += self.expect(step)
            elif isinstance(step, dm.Advance):
                self.advance(step.by)
            else:
                self.act(step)
        return checks + self.refusals

    def act(self, step: dm.ActionStep) -> None:
        who, error = step.actor(), step.expect_error
        if isinstance(step, dm.Declare):
            self.declare(step)
        elif isinstance(step, dm.Ack):
            self.ack(who, step.role, error)
        elif isinstance(step, dm.Note):
            self.command(who, (c.Evidence if step.kind == "evidence" else c.Note)(step.text), error)
        elif isinstance(step, dm.Update):
            self.command(who, c.Update(step.text), error)
        elif isinstance(step, dm.ChangeStatus):
            self.command(who, c.StatusChange(step.to, step.note), error)
        elif isinstance(step, dm.Contain):
            params = {k: str(v) for k, v in step.params.items()}
            self.command(who, c.Contain(step.action, params, step.reason), error)
            if error is None:
                self.labels[step.defines()] = self.newest_gate()
        elif isinstance(step, dm.Decide):
            self.decide(step)
        elif isinstance(step, dm.ConfirmManual):
            self.command(who, c.Confirm(self.labels[step.gate], step.note), error)
        elif isinstance(step, dm.Resolve):
            self.command(who, c.Resolve(step.summary), error)
        elif isinstance(step, dm.ReviewDone):
            self.command(who, c.ReviewDone(), error)
        elif isinstance(step, dm.Close):
            self.command(who, c.Close(), error)
        else:
            raise AssertionError(f"no {self.platform} translation for a {step.kind} step")

    def advance(self, by: timedelta) -> None:
        """As the drill runner does: fire each deadline at its due time, in order."""
        target = self.clock.now() + by
        while True:
            due = [d.due_at for d in deadlines.pending_deadlines(self.ctx) if d.due_at <= target]
            if not due:
                break
            self.clock.set(max(self.clock.now(), min(due)))
            fired = deadlines.fire_due(self.ctx, limit=1)
            if not fired:
                break
            for item in fired:
                if item.kind == "gate":
                    names = [k for k, v in self.labels.items() if str(v) == item.subject]
                    self.fired.append(f"gate {names[0] if names else item.subject}: {item.outcome}")
                elif item.kind == "ack":
                    self.fired.append(f"ack {item.subject}: {item.outcome}")
                else:
                    self.fired.append(f"{item.kind}: {item.outcome}")
            self.settled()
        self.clock.set(target)

    def expect(self, step: dm.Expect) -> int:
        assert self.incident_id is not None
        results = evaluate(
            step,
            ctx=self.ctx,
            incident_id=self.incident_id,
            labels=self.labels,
            fired=self.fired,
            calls=[(call.action, call.mode) for call in self.executor.calls],
            chat=self,  # type: ignore[arg-type]  # only messages_to is read
        )
        failed = [
            f"{name}: expected {want}, found {got}" for name, want, got, ok in results if not ok
        ]
        assert not failed, failed
        self.fired = []
        return len(results)
