"""Which route an alert takes, and the incident that route would open for it."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from commandpost.core.alerts.config import AlertRoute, AlertRules, RouteAction
from commandpost.core.alerts.model import Alert
from commandpost.core.vocabulary import IncidentClass, Role, Severity

DEFAULT_RULE = "default"
TITLE_LIMIT = 200


@dataclass(frozen=True)
class Routed:
    """An alert and what its route makes of it. `missing`: labels its templates named that the
    alert did not carry (the title reads "unknown <label>"; a surface part is left out)."""

    alert: Alert
    rule: str
    klass: IncidentClass
    severity: Severity
    title: str
    page: tuple[Role, ...] = ()
    model: str | None = None
    model_version: str | None = None
    endpoint: str | None = None
    tenant: str | None = None
    region: str | None = None
    missing: tuple[str, ...] = ()


def matches(route: AlertRoute, alert: Alert) -> bool:
    if route.sources is not None and alert.source not in route.sources:
        return False
    for label, wanted in route.match.items():
        if alert.labels.get(label) != wanted:
            return False
    for label, pattern in route.match_re.items():
        value = alert.labels.get(label)
        # `re` caches compiled patterns; the policy check already proved they compile.
        if value is None or re.fullmatch(pattern, value) is None:
            return False
    return True


def route(alert: Alert, rules: AlertRules) -> Routed:
    for candidate in rules.routes:
        if matches(candidate, alert):
            return _apply(candidate.name, candidate, alert)
    return _apply(DEFAULT_RULE, rules.default, alert)


def _apply(name: str, action: RouteAction, alert: Alert) -> Routed:
    values = template_values(alert)
    missing: list[str] = []

    def part(template: str | None) -> str | None:
        if template is None:
            return None
        text, absent = render(template, values)
        missing.extend(absent)
        return None if absent or not text.strip() else text.strip()

    title, absent = render(action.title, values)
    missing.extend(absent)
    surface = action.surface
    return Routed(
        alert=alert,
        rule=name,
        klass=action.klass,
        severity=action.severity,
        title=(title.strip() or alert.title)[:TITLE_LIMIT],
        page=tuple(action.page),
        model=part(surface.model),
        model_version=part(surface.model_version),
        endpoint=part(surface.endpoint),
        tenant=part(surface.tenant),
        region=part(surface.region),
        missing=tuple(dict.fromkeys(missing)),
    )


def template_values(alert: Alert) -> dict[str, str]:
    """What `{name}` may refer to: the alert's labels, then a few of its own fields."""
    own = {
        "title": alert.title,
        "summary": alert.summary or "",
        "source": alert.source.value,
        "status": alert.status.value,
        "fingerprint": alert.short_fingerprint,
    }
    return {**own, **alert.labels}


def render(template: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """Fill `{name}` placeholders; returns the text and the names that had no value."""
    out: list[str] = []
    missing: list[str] = []
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        out.append(literal)
        if name is None:
            continue
        if name in values:
            out.append(values[name])
        else:
            missing.append(name)
            out.append(f"unknown {name}")
    return "".join(out), missing
