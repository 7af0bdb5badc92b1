"""The `alerts:` section of the policy: sources and their secrets, routes, flood limit.

alerts:
  sources:                       # a source left out has no endpoint (404)
    alertmanager: {auth: bearer, token_ref: env:COMMANDPOST_ALERTMANAGER_TOKEN}
    generic: {auth: hmac, secret_ref: env:COMMANDPOST_ALERTS_SECRET, tolerance: 5m}
  routes:                        # first match wins
    - name: pii-chat-v7
      match: {detector: pii, model: chat-v7}     # labels, exact
      match_re: {tenant: "acme-.*"}              # labels, whole-value regex
      class: data_leakage
      severity: SEV1
      title: "PII in {model} output"             # {label}; a missing one reads "unknown label"
      surface: {model: "{model}", endpoint: "{endpoint}"}
      page: [legal]                              # besides the severity's own list
  default: {class: functional, severity: SEV3, title: "{title}"}
  flood: {max_incidents: 5, window: 10m}
  storm: {class: functional, severity: SEV2}
  max_body_bytes: 1048576
  redelivery_window: 1h
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from commandpost.core.alerts.model import AlertSource
from commandpost.core.durations import parse_duration
from commandpost.core.vocabulary import IncidentClass, Role, Severity
from commandpost.errors import InvalidInput

ENV_REF = r"^env:[A-Z_][A-Z0-9_]*$"
MIB = 1024 * 1024
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _duration(value: Any) -> Any:
    # The policy module's rule, repeated: importing it from there would be a cycle.
    if isinstance(value, str) and not value.startswith("P"):
        try:
            return parse_duration(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class _Strict(BaseModel):
    # populate_by_name: a stored policy snapshot spells `class` as the field name, `klass`.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def template_fields(template: str) -> list[str]:
    """The `{name}` placeholders of a title or surface template; ValueError if malformed.

    Only bare names: `{a.b}`, `{a[0]}`, conversions and format specs would let a policy reach
    into objects or fail at render time, so they are refused when the policy is checked.
    """
    names = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"bad template {template!r}: {exc}") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not _FIELD.match(name) or spec or conversion:
            raise ValueError(
                f"bad template {template!r}: placeholders are bare label names such as "
                "{model}, without attributes, indexes, conversions or formats"
            )
        names.append(name)
    return names


def _checked_template(value: str) -> str:
    template_fields(value)
    return value


Template = Annotated[str, AfterValidator(_checked_template)]


class BearerAuth(_Strict):
    """`Authorization: Bearer <token>`; the token is read from the environment."""

    auth: Literal["bearer"]
    token_ref: str = Field(pattern=ENV_REF)


class HmacAuth(_Strict):
    """HMAC-SHA256 over `<timestamp>.<body>`, refused outside `tolerance` of our clock."""

    auth: Literal["hmac"]
    secret_ref: str = Field(pattern=ENV_REF)
    tolerance: Duration = timedelta(minutes=5)


SourceAuth = Annotated[BearerAuth | HmacAuth, Field(discriminator="auth")]


class Surface(_Strict):
    """The affected surface, each part a template; a part naming a missing label is left out."""

    model: Template | None = None
    model_version: Template | None = None
    endpoint: Template | None = None
    tenant: Template | None = None
    region: Template | None = None


class RouteAction(_Strict):
    """What an alert that takes this route opens."""

    klass: IncidentClass = Field(alias="class")
    severity: Severity
    title: Template = "{title}"
    surface: Surface = Field(default_factory=Surface)
    page: list[Role] = Field(default_factory=list)


class AlertRoute(RouteAction):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=80)
    sources: list[AlertSource] | None = None
    match: dict[str, str] = Field(default_factory=dict)
    match_re: dict[str, str] = Field(default_factory=dict)

    @field_validator("match_re")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        for label, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"match_re.{label}: bad regular expression: {exc}") from None
        return value


class DefaultRoute(RouteAction):
    klass: IncidentClass = Field(default=IncidentClass.FUNCTIONAL, alias="class")
    severity: Severity = Severity.SEV3


class FloodRule(_Strict):
    """At most `max_incidents` incidents opened from alerts per `window`; the rest storm."""

    max_incidents: int = Field(default=5, ge=1)
    window: Duration = timedelta(minutes=10)


class StormRule(_Strict):
    klass: IncidentClass = Field(default=IncidentClass.FUNCTIONAL, alias="class")
    severity: Severity = Severity.SEV2
    title: str = Field(default="Alert storm: new alerts grouped past the flood limit", min_length=1)
    page: list[Role] = Field(default_factory=list)


class AlertRules(_Strict):
    sources: dict[AlertSource, SourceAuth] = Field(default_factory=dict)
    routes: list[AlertRoute] = Field(default_factory=list)
    default: DefaultRoute = Field(default_factory=DefaultRoute)
    flood: FloodRule = Field(default_factory=FloodRule)
    storm: StormRule = Field(default_factory=StormRule)
    max_body_bytes: int = Field(default=MIB, ge=1024, le=64 * MIB)
    # A body seen again within this window is a retry of a delivery already handled.
    redelivery_window: Duration = timedelta(hours=1)


def alert_problems(
    rules: AlertRules, *, rotations: Collection[Role]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Names in the alerts section that must point at something (paths under `alerts`)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    seen: set[str] = set()
    for index, route in enumerate(rules.routes):
        if route.name in seen:
            problems.append(
                (("alerts", "routes", index, "name"), f"duplicate route {route.name!r}")
            )
        seen.add(route.name)
        if not (route.match or route.match_re or route.sources):
            problems.append(
                (
                    ("alerts", "routes", index),
                    "a route needs match, match_re or sources; a catch-all belongs in default",
                )
            )
        problems += _unrotated(route.page, rotations, ("alerts", "routes", index, "page"))
    problems += _unrotated(rules.default.page, rotations, ("alerts", "default", "page"))
    problems += _unrotated(rules.storm.page, rotations, ("alerts", "storm", "page"))
    return problems


def _unrotated(
    roles: list[Role], rotations: Collection[Role], path: tuple[str | int, ...]
) -> list[tuple[tuple[str | int, ...], str]]:
    return [
        ((*path, index), f"role {role.value} is paged but has no rotation")
        for index, role in enumerate(roles)
        if role not in rotations
    ]
