"""What the channel and the incident commander are told about alerts (text only, pure)."""

from __future__ import annotations

from collections.abc import Sequence

from commandpost.core.alerts.config import FloodRule
from commandpost.core.alerts.model import Alert, AlertSource
from commandpost.core.alerts.routing import Routed
from commandpost.core.durations import format_duration

LISTED = 5  # alerts named one by one in a note; the rest are counted


def _listing(alerts: Sequence[Alert]) -> str:
    named = [f"{a.title} [{a.short_fingerprint}]" for a in alerts[:LISTED]]
    more = len(alerts) - LISTED
    return "; ".join(named) + (f"; and {more} more" if more > 0 else "")


def _links(alerts: Sequence[Alert]) -> str:
    urls = list(dict.fromkeys(a.generator_url for a in alerts if a.generator_url))[:2]
    return "".join(f"\nSource: {url}" for url in urls)


def opened(source: AlertSource, lead: Routed, alerts: Sequence[Alert]) -> str:
    firing = [a for a in alerts if a.firing]
    text = (
        f"Opened from {source.value} (route {lead.rule}): "
        f"{len(firing)} firing alert(s): {_listing(firing)}."
    )
    if lead.alert.summary:
        text += f"\n{lead.alert.summary}"
    if lead.missing:
        text += f"\nThe route's templates named labels the alert lacks: {', '.join(lead.missing)}."
    return text + _links(alerts)


def attached(source: AlertSource, new: Sequence[Alert], refired: Sequence[Alert]) -> str:
    parts = []
    if new:
        parts.append(f"{len(new)} new alert(s) from {source.value} attached: {_listing(new)}.")
    if refired:
        parts.append(f"Firing again ({source.value}): {_listing(refired)}.")
    return " ".join(parts) + _links([*new, *refired])


def resolved(source: AlertSource, alerts: Sequence[Alert]) -> str:
    return (
        f"Resolved at the source ({source.value}): {_listing(alerts)}. "
        "The incident stays open until a responder resolves it."
    )


def stormed(source: AlertSource, groups: Sequence[Sequence[Routed]], flood: FloodRule) -> str:
    routed = [r for group in groups for r in group if r.alert.firing]
    worst = min(routed, key=lambda r: r.severity.rank) if routed else None
    text = (
        f"{len(routed)} new alert(s) from {source.value} grouped here instead of opening "
        f"{len(groups)} incident(s) (flood limit: {flood.max_incidents} per "
        f"{format_duration(flood.window)}): {_listing([r.alert for r in routed])}."
    )
    if worst is not None:
        text += (
            f" The most severe would have been {worst.severity.value} {worst.klass.value} "
            f"(route {worst.rule}): {worst.title}."
        )
    return text


def storm_for_ic(incident_id: str, flood: FloodRule) -> str:
    return (
        f"Alert storm: {flood.max_incidents} incidents were opened from alerts within "
        f"{format_duration(flood.window)}, the flood limit, so new alerts are grouped under "
        f"{incident_id} instead of opening a channel each. Look there, and declare separately "
        "what needs its own incident."
    )
