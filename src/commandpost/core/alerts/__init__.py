"""Alerts from monitors: parse a source's payload, route each alert, plan what a delivery
does (attach, open, storm, ignore). Pure: the service layer reads and writes the store.

    parse_delivery(source, body)      bytes → Delivery of normalised Alerts (InvalidInput)
    route(alert, rules)               → Routed: the rule taken and the incident it opens
    plan_delivery(alerts, known=…, opened_at=…, rules=…, now=…)   → Plan
    flood_decision(opened_at, now=…, rule=…)                       → open or storm
"""

from commandpost.core.alerts.config import AlertRoute, AlertRules, FloodRule
from commandpost.core.alerts.model import (
    Alert,
    AlertSource,
    AlertStatus,
    Delivery,
    derive_fingerprint,
)
from commandpost.core.alerts.parse import guess_source, parse_delivery
from commandpost.core.alerts.plan import (
    AlertGroup,
    Attach,
    FloodDecision,
    NewIncident,
    Plan,
    flood_decision,
    group_alerts,
    plan_delivery,
)
from commandpost.core.alerts.routing import DEFAULT_RULE, Routed, route

__all__ = [
    "DEFAULT_RULE",
    "Alert",
    "AlertGroup",
    "AlertRoute",
    "AlertRules",
    "AlertSource",
    "AlertStatus",
    "Attach",
    "Delivery",
    "FloodDecision",
    "FloodRule",
    "NewIncident",
    "Plan",
    "Routed",
    "derive_fingerprint",
    "flood_decision",
    "group_alerts",
    "guess_source",
    "parse_delivery",
    "plan_delivery",
    "route",
]
