"""Reading `policy.yml`: YAML with line numbers, validated into a `Policy`.

Every problem is reported at once, each with its YAML path and, where the YAML library knows
it, the line; a responder fixing a policy should not have to rerun the check once per typo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from commandpost.core.policy import Policy, PolicyCrossReferenceError, cross_reference_problems
from commandpost.errors import PolicyInvalid

PathPart = str | int


@dataclass(frozen=True)
class Problem:
    path: tuple[PathPart, ...]
    message: str
    line: int | None

    def render(self) -> str:
        where = ".".join(str(p) for p in self.path) or "(top)"
        at = f" (line {self.line})" if self.line is not None else ""
        return f"{where}{at}: {self.message}"


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file, keeping ruamel's line marks; InvalidInput-style errors on bad YAML."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyInvalid([f"cannot read {source}: {exc.strerror}"], source=str(source)) from None
    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = "; ".join(str(p) for p in (exc.context, exc.problem) if p)
        problem = Problem((), f"not valid YAML: {what}", line)
        raise PolicyInvalid([problem.render()], source=str(source)) from None
    except YAMLError as exc:
        raise PolicyInvalid([f"(top): not valid YAML: {exc}"], source=str(source)) from None


def line_of(document: Any, path: Sequence[PathPart]) -> int | None:
    """The 1-based line of the deepest node on `path` that the document has."""
    node = document
    line: int | None = None
    for part in path:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def problems_of(exc: ValidationError, document: Any) -> list[Problem]:
    found: list[Problem] = []
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        base = tuple(p for p in error["loc"])
        if isinstance(cause, PolicyCrossReferenceError):
            for path, message in cause.problems:
                full = base + tuple(path)
                found.append(Problem(full, message, line_of(document, full)))
            continue
        path = _clean(base)
        message = error["msg"].removeprefix("Value error, ")
        found.append(Problem(path, message, line_of(document, path)))
    return found


def _clean(loc: tuple[Any, ...]) -> tuple[PathPart, ...]:
    # pydantic adds validator names ("function-before[...]") into locations; they are not YAML.
    return tuple(p for p in loc if isinstance(p, int) or "[" not in str(p))


def validate(document: Any, *, source: str) -> Policy:
    if not isinstance(document, dict):
        found = (
            "an empty file"
            if document is None
            else "a list"
            if isinstance(document, list)
            else f"the scalar {document!r}"
        )
        problem = Problem((), f"the policy must be a YAML mapping, not {found}", 1)
        raise PolicyInvalid([problem.render()], source=source)
    plain = _plain(document)
    try:
        return Policy.model_validate(plain)
    except ValidationError as exc:
        problems = problems_of(exc, document)
        # pydantic skips the cross-reference check once a field is invalid; run it on the
        # sections that did validate, so one run shows every problem.
        problems += [p for p in _cross_references(plain, document) if p not in problems]
        raise PolicyInvalid([p.render() for p in problems], source=source) from None


# Which sections a section's cross-references read: a problem is only reported when its own
# section and everything it reads validated, or it would be an echo of another problem.
_READS: dict[str, set[str]] = {
    "people": set(),
    "rotations": {"people"},
    "groups": {"people"},
    "severities": {"rotations"},
    "gates": {"groups", "actions"},
    "actions": {"gates"},
    "alerts": {"rotations"},
    "evidence": {"groups"},
}


def _stand_in(name: str) -> Any:
    """An empty value for a section that failed to validate: its default where it has one
    (alerts' is a model, not a dict), else an empty container."""
    info = Policy.model_fields[name]
    if not info.is_required():
        return info.get_default(call_default_factory=True)
    return [] if name == "people" else {}


def _cross_references(plain: dict[str, Any], document: Any) -> list[Problem]:
    good: dict[str, Any] = {}
    for name, info in Policy.model_fields.items():
        if name not in plain:
            continue
        kind: Any = info.annotation
        # Constraints such as min_length live in the field's metadata, not in its type.
        adapter: TypeAdapter[Any] = TypeAdapter(
            Annotated[kind, *info.metadata] if info.metadata else kind
        )
        try:
            good[name] = adapter.validate_python(plain[name])
        except ValidationError:
            continue
    if all(name in good for name in _READS if name in plain):
        return []  # every section validated: the model validator already ran
    # Sections that failed stand in empty; the filter below drops whatever that makes up.
    empty: dict[str, Any] = {name: _stand_in(name) for name in _READS}
    partial = Policy.model_construct(**{**empty, **good})
    try:
        problems = cross_reference_problems(partial)
    except (AttributeError, KeyError, TypeError):
        return []  # a section the check needs is missing altogether; its error says so
    return [
        Problem(path, message, line_of(document, path))
        for path, message in problems
        if path
        and isinstance(path[0], str)
        and path[0] in good
        and _READS.get(path[0], set()) <= good.keys()
    ]


def load_policy(path: str | Path) -> Policy:
    return validate(read_yaml(path), source=str(path))


def _plain(node: Any) -> Any:
    # ruamel's round-trip types carry comments; pydantic wants plain containers.
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node
