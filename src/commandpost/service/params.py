"""Typed parameters for containment actions, checked against the policy's catalogue."""

from __future__ import annotations

from typing import Any

from commandpost.core.policy import ContainmentAction
from commandpost.errors import InvalidInput

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def coerce_params(name: str, spec: ContainmentAction, raw: dict[str, str]) -> dict[str, Any]:
    unknown = sorted(set(raw) - set(spec.params))
    if unknown:
        raise InvalidInput(
            f"{name} has no parameter {', '.join(unknown)}; it takes "
            + (", ".join(spec.params) or "none")
        )
    values: dict[str, Any] = {}
    for key, param in spec.params.items():
        if key not in raw:
            if param.required:
                raise InvalidInput(f"{name} needs {key}=<{param.type}>")
            continue
        text = raw[key]
        values[key] = _coerce(name, key, param.type, text)
        if param.choices is not None and text not in param.choices:
            raise InvalidInput(f"{name} {key} must be one of {', '.join(param.choices)}")
    return values


def _coerce(name: str, key: str, kind: str, text: str) -> Any:
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        raise InvalidInput(f"{name} {key} must be a {kind}, not {text!r}") from None
    if kind == "boolean":
        lowered = text.lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise InvalidInput(f"{name} {key} must be true or false, not {text!r}")
    if not text:
        raise InvalidInput(f"{name} {key} must not be empty")
    return text
