"""The drill file: a scripted incident, read from YAML into typed, checked steps.

Each list item under `steps:` names its kind as its only key, with the fields beneath it;
`expect_error` may sit beside the kind or among the fields. `advance: 10m` is short for
`advance: {by: 10m}`. Steps are a pydantic discriminated union on the kind, so a typo is
reported with the file, the step number (1-based, as a reader counts) and the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from commandpost.core.durations import parse_duration
from commandpost.core.gates import GateState
from commandpost.core.policy import Policy
from commandpost.core.vocabulary import IncidentClass, Role, Severity, Status
from commandpost.errors import CommandPostError, InvalidInput

DEFAULT_START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _via(parse: Callable[[str], Any]) -> BeforeValidator:
    def convert(value: Any) -> Any:
        if isinstance(value, str | int) and not isinstance(value, bool):
            try:
                return parse(str(value))
            except CommandPostError as exc:
                # pydantic only gathers ValueErrors into its report.
                raise ValueError(str(exc)) from None
        return value

    return BeforeValidator(convert)


def _duration(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("write a duration like 30s, 10m, 4h or 1h30m")
    try:
        return parse_duration(value)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


def _param_text(value: Any) -> str:
    # The service takes parameters as typed text, the way a person types them in chat.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError("a parameter value is a single string, number or true/false")


def _texts(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
PersonId = Text
Label = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$")]
RoleName = Annotated[Role, _via(Role.parse)]
SeverityName = Annotated[Severity, _via(Severity.parse)]
StatusName = Annotated[Status, _via(Status.parse)]
ClassName = Annotated[IncidentClass, _via(IncidentClass.parse)]
DurationText = Annotated[timedelta, BeforeValidator(_duration)]
ParamValue = Annotated[str, BeforeValidator(_param_text)]
Texts = Annotated[list[Text], BeforeValidator(_texts)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ActionStep(_Model):
    """A step a person takes; it may be expected to be refused."""

    PERSON_FIELDS: ClassVar[tuple[str, ...]] = ("by", "who")
    kind: str
    expect_error: Text | None = None

    def people(self) -> list[tuple[str, str]]:
        """(field, person id) for every person the step names."""
        return [
            (name, str(getattr(self, name))) for name in self.PERSON_FIELDS if hasattr(self, name)
        ]

    def actor(self) -> str:
        """Who takes the step: `by` for requests and commands, `who` for acks and decisions."""
        return str(getattr(self, "by", None) or getattr(self, "who", ""))

    def gate_ref(self) -> str | None:
        ref = getattr(self, "gate", None)
        return ref if isinstance(ref, str) else None

    def defines(self) -> str | None:
        return None


class Declare(ActionStep):
    kind: Literal["declare"]
    by: PersonId
    title: Text
    klass: ClassName = Field(alias="class")
    severity: SeverityName
    model: Text | None = None
    model_version: Text | None = None
    surface: Text | None = None
    tenant: Text | None = None
    region: Text | None = None
    description: Text | None = None
    trigger: Text = "command"


class Ack(ActionStep):
    kind: Literal["ack"]
    who: PersonId
    role: RoleName | None = None


class Assign(ActionStep):
    PERSON_FIELDS = ("by", "to")
    kind: Literal["assign", "handover"]
    by: PersonId
    role: RoleName
    to: PersonId


class ChangeStatus(ActionStep):
    kind: Literal["status"]
    by: PersonId
    to: StatusName
    note: Text | None = None


class _Labelled(ActionStep):
    label: Label | None = Field(default=None, alias="as")

    def defines(self) -> str | None:
        return self.label


class ChangeSeverity(_Labelled):
    kind: Literal["severity"]
    by: PersonId
    to: SeverityName
    reason: Text | None = None


class Note(ActionStep):
    kind: Literal["note", "evidence"]
    by: PersonId
    text: Text


class Contain(_Labelled):
    kind: Literal["contain"]
    by: PersonId
    action: Text
    params: dict[str, ParamValue] = Field(default_factory=dict)
    reason: Text | None = None

    def defines(self) -> str:
        # Without `as:` the action's name is the label: one such request per drill reads well.
        return self.label or self.action


class Decide(ActionStep):
    kind: Literal["approve", "reject", "escalate"]
    who: PersonId
    gate: Label
    reason: Text | None = None


class ConfirmManual(ActionStep):
    kind: Literal["confirm_manual"]
    who: PersonId
    gate: Label
    note: Text | None = None


class Restore(_Labelled):
    kind: Literal["restore"]
    by: PersonId
    gate: Label
    reason: Text | None = None


class Update(ActionStep):
    kind: Literal["update"]
    by: PersonId
    text: Text


class Resolve(ActionStep):
    kind: Literal["resolve"]
    by: PersonId
    summary: Text


class ReviewDone(ActionStep):
    """The incident commander marks the post-incident review done; `close` needs it."""

    kind: Literal["review_done"]
    by: PersonId


class Close(ActionStep):
    kind: Literal["close"]
    by: PersonId


class Advance(_Model):
    """Move the simulated clock; `down: true` jumps without firing on the way (an outage)."""

    kind: Literal["advance"]
    by: DurationText
    down: bool = False


class GateExpect(_Model):
    state: GateState | None = None
    tier: int | None = Field(default=None, ge=1)
    execution: Literal["none", "queued", "manual_pending", "executed"] | None = None
    approved_by: list[PersonId] | None = None


def _gate_expect(value: Any) -> Any:
    return {"state": value} if isinstance(value, str) else value


class Expect(_Model):
    """Checks on the incident as it stands; `fired` counts since the previous expect step."""

    kind: Literal["expect"]
    status: StatusName | None = None
    severity: SeverityName | None = None
    roles: dict[RoleName, PersonId] | None = None
    paged: dict[RoleName, PersonId] | None = None
    unfilled: list[RoleName] | None = None
    gates: dict[Label, Annotated[GateExpect, BeforeValidator(_gate_expect)]] | None = None
    executed: list[Label] | None = None
    actions_run: list[Text] | None = None
    fired: int | list[Text] | None = None
    pending_deadlines: int | None = Field(default=None, ge=0)
    audit_valid: bool | None = None
    channel_contains: Texts | None = None
    dm_contains: dict[PersonId, Texts] | None = None

    @model_validator(mode="after")
    def _something(self) -> Expect:
        if not self.model_fields_set - {"kind"}:
            raise ValueError("an expect step needs at least one expectation")
        return self

    def people(self) -> list[tuple[str, str]]:
        found = [(f"roles.{r.value}", p) for r, p in (self.roles or {}).items()]
        found += [(f"paged.{r.value}", p) for r, p in (self.paged or {}).items()]
        found += [("dm_contains", p) for p in self.dm_contains or {}]
        for label, gate in (self.gates or {}).items():
            found += [(f"gates.{label}.approved_by", p) for p in gate.approved_by or []]
        return found

    def labels(self) -> list[tuple[str, str]]:
        return [(f"gates.{g}", g) for g in self.gates or {}] + [
            ("executed", g) for g in self.executed or []
        ]


Step = Annotated[
    Declare
    | Ack
    | Assign
    | ChangeStatus
    | ChangeSeverity
    | Note
    | Contain
    | Decide
    | ConfirmManual
    | Restore
    | Update
    | Resolve
    | ReviewDone
    | Close
    | Advance
    | Expect,
    Field(discriminator="kind"),
]
# Every kind, in the order a drill usually uses them, read off the union's Literal tags.
STEP_MODELS: dict[str, type[BaseModel]] = {
    kind: member
    for member in get_args(get_args(Step)[0])
    for kind in get_args(member.model_fields["kind"].annotation)
}
KINDS: tuple[str, ...] = tuple(STEP_MODELS)


def field_names(model: type[BaseModel]) -> list[str]:
    """The keys a drill author writes for `model` (aliases such as `as` and `class`)."""
    names = [f.alias or name for name, f in model.model_fields.items() if name != "kind"]
    # The modifier shared by every action reads best after the step's own fields.
    return sorted(names, key=lambda n: n in BESIDE_KIND)


SHORTHAND = {"advance": "by"}
BESIDE_KIND = ("expect_error",)


class DrillFile(_Model):
    name: Text | None = None
    description: Text | None = None
    policy: Text | None = None
    start: AwareDatetime = DEFAULT_START
    steps: list[Step] = Field(min_length=1)


@dataclass(frozen=True)
class Drill:
    source: str
    name: str
    policy: Policy
    start: datetime
    steps: list[Step]
    lines: list[int | None]

    def where(self, index: int) -> str:
        """How a message names step `index` (0-based inside, 1-based for people)."""
        return f"{self.source}: step {index + 1} ({self.steps[index].kind})"
