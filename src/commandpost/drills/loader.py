"""Reading a drill: YAML with line numbers, shaped into steps, validated, cross-checked.

Every problem names the file, the step (1-based) and the field, with the YAML line where it
is known; all problems are reported at once, before anything runs or is written.
"""

from __future__ import annotations

import difflib
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from commandpost.core.policy import Policy
from commandpost.drills.model import (
    BESIDE_KIND,
    KINDS,
    SHORTHAND,
    STEP_MODELS,
    ActionStep,
    Advance,
    Contain,
    Declare,
    Drill,
    DrillFile,
    Expect,
    field_names,
)
from commandpost.errors import InvalidInput
from commandpost.policy_file import load_policy
from commandpost.service.params import coerce_params


def load_drill(
    path: str | Path, *, policy_path: str | Path | None = None, default_policy: str | Path
) -> Drill:
    """Read, validate and cross-check a drill against its policy; InvalidInput names the spot."""
    source = str(path)
    document = _read(Path(path), source)
    raw_steps = document.get("steps")
    if not isinstance(raw_steps, list):
        raise InvalidInput(f"{source}: field 'steps': a list of steps is required")
    shaped: list[dict[str, Any]] = []
    problems: list[str] = []
    for index, raw in enumerate(raw_steps):
        try:
            shaped.append(_shape(raw))
        except _ShapeError as exc:
            kind = f" ({exc.kind})" if exc.kind else ""
            line = _at(_line(raw_steps, index))
            problems.append(f"{source}: step {index + 1}{kind}: {exc}{line}")
    if problems:
        raise InvalidInput("\n".join(problems))
    try:
        parsed = DrillFile.model_validate({**_plain(document), "steps": shaped})
    except ValidationError as exc:
        raise InvalidInput("\n".join(_explain(exc, source, raw_steps, shaped))) from None
    chosen = policy_path or (Path(path).parent / parsed.policy if parsed.policy else default_policy)
    drill = Drill(
        source=source,
        name=parsed.name or Path(path).stem,
        policy=load_policy(chosen),
        start=parsed.start.astimezone(UTC),
        steps=parsed.steps,
        lines=[_line(raw_steps, i) for i in range(len(raw_steps))],
    )
    problems = _cross_check(drill)
    if problems:
        raise InvalidInput("\n".join(problems))
    return drill


def _read(path: Path, source: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{source}: cannot read the drill: {exc.strerror}") from None
    try:
        document = YAML(typ="rt").load(text)
    except YAMLError as exc:
        raise InvalidInput(f"{source}: {_yaml_problem(exc, text)}") from None
    if not isinstance(document, dict):
        raise InvalidInput(f"{source}: a drill is a YAML mapping with a 'steps' list")
    return document


class _ShapeError(ValueError):
    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind


def _yaml_problem(exc: YAMLError, text: str) -> str:
    """One line: where the YAML broke and, counting list items under `steps:`, in which step."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None) or ""
    mark = getattr(exc, "problem_mark", None)
    # An unclosed `{...}` is noticed on a later line; the mapping's start is the step at fault.
    if "flow" in context and getattr(exc, "context_mark", None) is not None:
        mark = exc.context_mark  # type: ignore[attr-defined]
    if mark is None:
        return f"not valid YAML: {problem}"
    line = int(mark.line) + 1
    step = _step_at(text, line)
    where = f"step {step}: " if step else ""
    detail = f" ({context})" if context else ""
    return f"{where}not valid YAML: {problem}{detail} (line {line}, column {mark.column + 1})"


def _step_at(text: str, line: int) -> int | None:
    lines = text.splitlines()
    start = next((i for i, t in enumerate(lines) if re.match(r"^steps\s*:", t)), None)
    if start is None or line <= start + 1:
        return None
    items = [t for t in lines[start + 1 : line] if re.match(r"^\s*- ", t)]
    if not items:
        return None
    indent = len(items[0]) - len(items[0].lstrip())
    return sum(1 for t in items if len(t) - len(t.lstrip()) == indent) or None


def _shape(raw: Any) -> dict[str, Any]:
    """`{approve: {who: x}, expect_error: y}` → `{kind: approve, who: x, expect_error: y}`."""
    if not isinstance(raw, dict) or not raw:
        raise _ShapeError(f"a step is a mapping like `ack: {{who: alice}}`; found {raw!r}")
    keys = [str(k) for k in raw if k not in BESIDE_KIND]
    known = [k for k in keys if k in KINDS]
    if len(known) != 1:
        if known:
            raise _ShapeError(f"one kind per step, found {', '.join(known)}; start each with '-'")
        unknown = keys[0] if keys else "(none)"
        near = difflib.get_close_matches(unknown, KINDS, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise _ShapeError(f"unknown step kind {unknown!r}{hint} (kinds: {', '.join(KINDS)})")
    kind = known[0]
    strays = [k for k in keys if k != kind]
    if strays:
        raise _ShapeError(f"field {strays[0]!r} belongs under '{kind}:' (indent it)", kind)
    body = raw[kind]
    if body is None:
        body = {}
    elif not isinstance(body, dict):
        if kind not in SHORTHAND:
            raise _ShapeError(f"write its fields as a mapping under '{kind}:'", kind)
        body = {SHORTHAND[kind]: body}
    fields = _plain(body)
    if "kind" in fields:
        raise _ShapeError("field 'kind': unknown field; the step's key names its kind", kind)
    for extra in BESIDE_KIND:
        if extra in raw:
            if extra in fields:
                raise _ShapeError(f"field {extra!r} is given twice", kind)
            fields[extra] = _plain(raw[extra])
    return {"kind": kind, **fields}


def _plain(node: Any) -> Any:
    # ruamel's round-trip types carry comments; unquoted dates (a model version like
    # 2026-02-13) are text to us, and `start` is parsed from text by pydantic.
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, datetime | date):
        return node.isoformat()
    return node


def _line(steps: Any, index: int, fields: tuple[Any, ...] = ()) -> int | None:
    if not isinstance(steps, CommentedSeq) or index >= len(steps):
        return None
    line: int | None = steps.lc.item(index)[0] + 1
    node = steps[index]
    if isinstance(node, CommentedMap) and fields:
        inner = next((node[k] for k in node if k in KINDS), None)
        for holder in (inner, node):
            if isinstance(holder, CommentedMap) and fields[0] in holder:
                return int(holder.lc.key(fields[0])[0]) + 1
    return line


def _at(line: int | None) -> str:
    return f" (line {line})" if line is not None else ""


def _explain(
    exc: ValidationError, source: str, raw_steps: Any, shaped: list[dict[str, Any]]
) -> list[str]:
    found = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if isinstance(p, int) or "[" not in str(p))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "timezone_aware":
            message = "give a UTC time with its zone, like 2026-03-02T09:00:00Z"
        if loc[:1] == ("steps",) and len(loc) >= 2 and isinstance(loc[1], int):
            index = loc[1]
            kind = shaped[index]["kind"]
            rest = loc[3:] if len(loc) > 2 and loc[2] == kind else loc[2:]
            if error["type"] == "extra_forbidden":
                message = "unknown field" + (
                    f"; {kind} takes {', '.join(field_names(STEP_MODELS[kind]))}"
                    if len(rest) == 1
                    else ""
                )
            field = f"field '{'.'.join(map(str, rest))}': " if rest else ""
            line = _at(_line(raw_steps, index, rest))
            found.append(f"{source}: step {index + 1} ({kind}): {field}{message}{line}")
        else:
            if error["type"] == "extra_forbidden":
                message = f"unknown field; a drill has {', '.join(field_names(DrillFile))}"
            found.append(f"{source}: field '{'.'.join(map(str, loc))}': {message}")
    return found


def _cross_check(drill: Drill) -> list[str]:
    """What pydantic cannot know: people, actions and gate labels must exist when used."""
    policy, problems = drill.policy, list[str]()
    people = sorted(p.id for p in policy.people)
    labels: list[str] = []
    declared = False
    for index, step in enumerate(drill.steps):
        where, line = drill.where(index), _at(drill.lines[index])
        if isinstance(step, Advance):
            continue
        if isinstance(step, Declare):
            if declared:
                problems.append(f"{where}: a drill runs one incident; it is declared already")
            declared = True
        elif not declared:
            problems.append(f"{where}: declare the incident first{line}")
            continue
        # A step expected to be refused may name a stranger or a bad action on purpose.
        lenient = isinstance(step, ActionStep) and step.expect_error is not None
        for field, person in step.people():
            if person not in people and not lenient:
                problems.append(
                    f"{where}: field '{field}': unknown person {person!r}; "
                    f"the policy has {', '.join(people)}{line}"
                )
        if isinstance(step, Contain) and not lenient:
            problems += _check_action(policy, step, where, line)
        refs = step.labels() if isinstance(step, Expect) else []
        if isinstance(step, ActionStep) and (ref := step.gate_ref()) is not None:
            refs.append(("gate", ref))
        for field, label in refs:
            if label not in labels:
                known = ", ".join(labels) or "none yet"
                problems.append(
                    f"{where}: field '{field}': no gate labelled {label!r} before this step "
                    f"(labels: {known}); give the request `as: {label}`{line}"
                )
        if isinstance(step, ActionStep) and (new := step.defines()) is not None:
            if new in labels:
                problems.append(f"{where}: field 'as': gate label {new!r} is used already{line}")
            labels.append(new)
    return problems


def _check_action(policy: Policy, step: Contain, where: str, line: str) -> list[str]:
    spec = policy.actions.get(step.action)
    if spec is None:
        return [
            f"{where}: field 'action': unknown action {step.action!r}; the policy has "
            f"{', '.join(sorted(policy.actions))}{line}"
        ]
    try:
        coerce_params(step.action, spec, dict(step.params))
    except InvalidInput as exc:
        return [f"{where}: field 'params': {exc}{line}"]
    return []
