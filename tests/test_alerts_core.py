"""Alerts in the pure core: parsing each source, routing, the policy section, flood, plans."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from commandpost.core.alerts import (
    Alert,
    AlertRules,
    AlertSource,
    AlertStatus,
    FloodDecision,
    FloodRule,
    derive_fingerprint,
    flood_decision,
    group_alerts,
    guess_source,
    parse_delivery,
    plan_delivery,
    route,
)
from commandpost.core.policy import Policy
from commandpost.core.vocabulary import IncidentClass, Role, Severity
from commandpost.errors import InvalidInput, PolicyInvalid
from commandpost.policy_file import load_policy

from .alertsupport import FIXTURES, alertmanager, am_alert, fixture, generic, generic_alert
from .support import POLICY_FILE, ROOT

AM, GRAFANA, GENERIC = AlertSource.ALERTMANAGER, AlertSource.GRAFANA, AlertSource.GENERIC
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SCHEMA = json.loads((ROOT / "docs" / "alerts" / "generic.schema.json").read_text())
SHIPPED_TEXT = POLICY_FILE.read_text(encoding="utf-8")


# -- parsing -----------------------------------------------------------------------------------


def test_alertmanager_firing_as_documented() -> None:
    delivery = parse_delivery(AM, fixture("alertmanager_firing"))
    first, second = delivery.alerts
    assert first.fingerprint == "1a30ba71cca2921f" and not first.fingerprint_derived
    assert first.status is AlertStatus.FIRING
    assert first.title == "PIIDetected"
    assert first.summary == "Email addresses of other users in chat-v7 answers"
    assert first.labels["model"] == "chat-v7"
    assert first.annotations["runbook_url"].startswith("https://")
    # +01:00 with nanoseconds → UTC, microseconds; Go's zero time → not ended.
    assert first.starts_at == datetime(2026, 3, 2, 8, 58, 12, 739266, tzinfo=UTC)
    assert first.ends_at is None
    assert first.generator_url is not None and "pii_hits_total" in first.generator_url
    assert first.group_key == second.group_key
    assert second.starts_at is not None and second.starts_at.tzinfo is UTC


def test_alertmanager_resolved_and_minimal() -> None:
    (resolved,) = parse_delivery(AM, fixture("alertmanager_resolved")).alerts
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.ends_at == datetime(2026, 3, 2, 9, 20, 12, tzinfo=UTC)
    (bare,) = parse_delivery(AM, fixture("alertmanager_minimal")).alerts
    assert bare.fingerprint_derived
    assert bare.fingerprint == derive_fingerprint(bare.labels)
    assert bare.annotations == {} and bare.summary is None and bare.generator_url is None
    assert bare.ends_at is None


def test_grafana_as_documented() -> None:
    delivery = parse_delivery(GRAFANA, fixture("grafana_firing"))
    spike, errors = delivery.alerts
    assert (spike.fingerprint, errors.fingerprint) == ("c6eadffa33fcdf37", "bc97ff14869b13e3")
    assert spike.title == "Safety classifier spike"
    assert spike.starts_at == datetime(2026, 3, 2, 8, 51, 3, 157076, tzinfo=UTC)
    assert spike.group_key == errors.group_key != ""
    (resolved,) = parse_delivery(GRAFANA, fixture("grafana_resolved")).alerts
    assert resolved.status is AlertStatus.RESOLVED and resolved.ends_at is not None
    (bare,) = parse_delivery(GRAFANA, fixture("grafana_minimal")).alerts
    # No groupKey: the alert is its own group.
    assert bare.group_key == "fingerprint:0d3f2a1b4c5e6f70"


def test_generic_shapes() -> None:
    (one,) = parse_delivery(GENERIC, fixture("generic_firing")).alerts
    assert one.fingerprint == "support-agent-refund-runaway"
    assert one.title == "Agent issued 400 refunds in 10 minutes"
    assert one.generator_url == "https://monitor.example.com/checks/refund-rate"
    loan, hiring, canary = parse_delivery(GENERIC, fixture("generic_several")).alerts
    assert loan.group_key == hiring.group_key == "canary-2026-03-02"
    assert canary.group_key == "injection-canaries"
    assert loan.fingerprint_derived and loan.fingerprint != hiring.fingerprint
    (bare,) = parse_delivery(GENERIC, fixture("generic_minimal")).alerts
    assert bare.group_key == f"fingerprint:{bare.fingerprint}"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("generic_*.json")), ids=lambda p: p.stem)
def test_generic_fixtures_follow_the_documented_schema(path: Path) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(path.read_text()))


@pytest.mark.parametrize(
    "bad",
    [
        {"alerts": [{"status": "firing", "title": "x", "lables": {"a": "b"}}]},
        {"alerts": [{"status": "firing", "title": "no fingerprint, no labels"}]},
        {"alerts": [{"status": "pending", "title": "x", "fingerprint": "f"}]},
        {"alerts": [{"status": "firing", "title": "", "fingerprint": "f"}]},
        {"alerts": [{"status": "firing", "title": "x", "labels": {"n": 1}}]},
        {"version": "2", "alerts": []},
        {"alert": []},
    ],
)
def test_schema_and_parser_refuse_the_same_generic_bodies(bad: dict[str, object]) -> None:
    assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(bad)
    with pytest.raises(InvalidInput):
        parse_delivery(GENERIC, json.dumps(bad).encode())


def test_the_fingerprint_of_labels_ignores_their_order() -> None:
    assert derive_fingerprint({"a": "1", "b": "2"}) == derive_fingerprint({"b": "2", "a": "1"})
    assert derive_fingerprint({"a": "1"}) != derive_fingerprint({"a": "2"})
    assert len(derive_fingerprint({})) == 64


@pytest.mark.parametrize(
    ("source", "body", "reason"),
    [
        (AM, b"", "the body is empty"),
        (AM, b"{not json", "the body is not JSON: Expecting property name"),
        (AM, b"[1, 2]", "must be a JSON object, not an array"),
        (AM, b'{"a": "\xff"}', "not UTF-8"),
        (AM, alertmanager([am_alert("f1")], version="3"), "version: Input should be '4'"),
        (AM, b'{"version": "4", "status": "firing", "alerts": []}', "groupKey: Field required"),
        (AM, alertmanager([am_alert("f1", "pending")]), "alerts.0.status: Input should be"),
        (AM, fixture("grafana_firing"), "version: Input should be '4'"),
        (
            AM,
            alertmanager([{**am_alert("f1"), "startsAt": "2026-03-02T09:00:00"}]),
            "alerts.0.startsAt: Input should have timezone info",
        ),
        (GRAFANA, b'{"status": "firing"}', "alerts: Field required"),
        (GENERIC, generic({"status": "firing", "title": "x"}), "give a fingerprint or at least"),
        (GENERIC, fixture("alertmanager_firing"), "not a generic payload"),
    ],
)
def test_malformed_bodies_say_why(source: AlertSource, body: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_delivery(source, body)
    assert reason in str(caught.value)


def test_a_saved_payload_source_is_guessed() -> None:
    assert guess_source(fixture("alertmanager_minimal")) is AM
    assert guess_source(fixture("grafana_minimal")) is GRAFANA
    assert guess_source(fixture("grafana_firing")) is GRAFANA
    assert guess_source(fixture("generic_several")) is GENERIC


# -- routing -----------------------------------------------------------------------------------


def one_alert(source: AlertSource = GENERIC, **labels: str) -> Alert:
    (alert,) = parse_delivery(source, generic(generic_alert("fp-1", **labels))).alerts
    return alert


def rules_of(text: str) -> AlertRules:
    return AlertRules.model_validate(json.loads(text))


def test_the_shipped_routes(policy: Policy) -> None:
    first, _ = parse_delivery(AM, fixture("alertmanager_firing")).alerts
    routed = route(first, policy.alerts)
    assert (routed.rule, routed.klass, routed.severity) == (
        "pii-leak",
        IncidentClass.DATA_LEAKAGE,
        Severity.SEV1,
    )
    assert routed.title == "PII detected in chat-v7 output"
    assert (routed.model, routed.model_version, routed.endpoint, routed.tenant) == (
        "chat-v7",
        "2026-02-28",
        "consumer-chat",
        "acme",
    )
    assert routed.region is None and routed.missing == ()
    assert routed.page == (Role.LEGAL,)


def test_first_match_wins_and_match_re_matches_the_whole_value() -> None:
    rules = rules_of(
        """{"routes": [
            {"name": "bias", "match_re": {"alertname": "EvalBias.*"},
             "class": "bias_regression", "severity": "SEV2"},
            {"name": "any-eval", "match_re": {"alertname": "Eval.*"},
             "class": "functional", "severity": "SEV3"},
            {"name": "from-grafana", "sources": ["grafana"], "match": {"team": "ml"},
             "class": "functional", "severity": "SEV1"}
        ]}"""
    )
    assert route(one_alert(alertname="EvalBiasHiring"), rules).rule == "bias"
    assert route(one_alert(alertname="EvalLatency"), rules).rule == "any-eval"
    assert route(one_alert(alertname="XEvalBias"), rules).rule == "default"
    assert route(one_alert(team="ml"), rules).rule == "default"  # generic, not grafana
    grafana = parse_delivery(GRAFANA, fixture("grafana_minimal")).alerts[0]
    assert route(grafana, rules).rule == "default"


def test_missing_labels_read_unknown_in_titles_and_leave_the_surface_out() -> None:
    rules = rules_of(
        """{"default": {"class": "functional", "severity": "SEV3",
            "title": "Runaway {agent} on {model}", "surface": {"model": "{model}",
            "tenant": "{tenant}", "region": "eu-{zone}"}}}"""
    )
    routed = route(one_alert(model="chat-v7"), rules)
    assert routed.title == "Runaway unknown agent on chat-v7"
    assert (routed.model, routed.tenant, routed.region) == ("chat-v7", None, None)
    assert routed.missing == ("agent", "tenant", "zone")
    # The alert's own fields fill in too; a label of the same name wins.
    titled = rules_of('{"default": {"class": "functional", "severity": "SEV3", '
                      '"title": "[{source}] {title} ({fingerprint})"}}')  # fmt: skip
    assert route(one_alert(), titled).title == "[generic] alert fp-1 (fp-1)"


# -- the policy section ------------------------------------------------------------------------


def policy_problems(tmp_path: Path, alerts_yaml: str) -> list[str]:
    text = SHIPPED_TEXT.split("\n# Alert ingestion")[0] + "\n" + alerts_yaml
    path = tmp_path / "policy.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyInvalid) as caught:
        load_policy(path)
    return caught.value.problems


def test_a_policy_without_an_alerts_section_gets_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(SHIPPED_TEXT.split("\n# Alert ingestion")[0], encoding="utf-8")
    rules = load_policy(path).alerts
    assert rules.sources == {} and rules.routes == []
    assert (rules.flood.max_incidents, rules.flood.window) == (5, timedelta(minutes=10))
    assert rules.max_body_bytes == 1024 * 1024
    assert (rules.default.klass, rules.default.severity) == (
        IncidentClass.FUNCTIONAL,
        Severity.SEV3,
    )


def test_the_alerts_section_survives_a_stored_snapshot(policy: Policy) -> None:
    again = Policy.model_validate(json.loads(json.dumps(policy.model_dump(mode="json"))))
    assert again.alerts == policy.alerts and again.version() == policy.version()


@pytest.mark.parametrize(
    ("yaml", "where", "message"),
    [
        (
            "  routes:\n    - {name: r, match: {a: b}, class: functional, severity: SEV3,"
            " title: '{model.__class__}'}\n",
            "alerts.routes.0.title (line",
            "placeholders are bare label names",
        ),
        (
            "  routes:\n    - {name: r, match_re: {a: '('}, class: functional, severity: SEV3}\n",
            "alerts.routes.0.match_re (line",
            "bad regular expression",
        ),
        (
            "  routes:\n    - {name: r, match: {a: b}, class: functional, severity: SEV3,"
            " page: [scribe]}\n",
            "alerts.routes.0.page.0 (line",
            "role scribe is paged but has no rotation",
        ),
        (
            "  routes:\n    - {name: r, match: {a: b}, class: functional, severity: SEV3}\n"
            "    - {name: r, match: {a: c}, class: functional, severity: SEV3}\n",
            "alerts.routes.1.name (line",
            "duplicate route 'r'",
        ),
        (
            "  routes:\n    - {name: r, class: functional, severity: SEV3}\n",
            "alerts.routes.0 (line",
            "a catch-all belongs in default",
        ),
        (
            "  sources:\n    generic: {auth: bearer, token_ref: TOKEN}\n",
            "alerts.sources.generic.bearer.token_ref (line",
            "should match pattern",
        ),
        ("  sources:\n    generic: {auth: basic}\n", "alerts.sources.generic (line", "'basic'"),
        ("  sources:\n    pagerduty: {auth: bearer, token_ref: env:X}\n", "alerts.sources", ""),
        ("  flood: {max_incidents: 0, window: 10m}\n", "alerts.flood.max_incidents (line", ""),
        ("  storm: {class: outage}\n", "alerts.storm.class (line", "'functional'"),
    ],
)
def test_policy_check_names_alert_problems(
    tmp_path: Path, yaml: str, where: str, message: str
) -> None:
    problems = policy_problems(tmp_path, "alerts:\n" + yaml)
    assert any(p.startswith(where) and message in p for p in problems), problems


# -- flood, grouping, plans --------------------------------------------------------------------

FLOOD = FloodRule(max_incidents=5, window=timedelta(minutes=10))


def test_flood_counts_openings_inside_the_window_only() -> None:
    minutes = [NOW - timedelta(minutes=m) for m in (1, 2, 3, 4)]
    assert flood_decision(minutes, now=NOW, rule=FLOOD) is FloodDecision.OPEN
    five = [*minutes, NOW - timedelta(minutes=9, seconds=59)]
    assert flood_decision(five, now=NOW, rule=FLOOD) is FloodDecision.STORM
    edge = [*minutes, NOW - timedelta(minutes=10)]  # exactly a window ago: out
    assert flood_decision(edge, now=NOW, rule=FLOOD) is FloodDecision.OPEN
    assert flood_decision([], now=NOW, rule=FloodRule(max_incidents=1)) is FloodDecision.OPEN


def alerts_of(*items: tuple[str, str, str]) -> list[Alert]:
    """(fingerprint, status, group) triples → generic alerts."""
    body = generic(
        *({**generic_alert(fp, status), "group_key": group} for fp, status, group in items)
    )
    return list(parse_delivery(GENERIC, body).alerts)


def test_groups_keep_order_and_a_repeated_fingerprint_counts_once_in_its_last_state() -> None:
    groups = group_alerts(
        alerts_of(("a", "firing", "g1"), ("b", "firing", "g2"), ("a", "resolved", "g1"))
    )
    assert [g.key for g in groups] == ["g1", "g2"]
    assert [(a.fingerprint, a.status.value) for a in groups[0].alerts] == [("a", "resolved")]


def test_plan_attaches_known_opens_one_per_group_and_ignores_unknown_resolved(
    policy: Policy,
) -> None:
    alerts = alerts_of(
        ("known", "firing", "g1"),
        ("sibling", "firing", "g1"),
        ("new-1", "firing", "g2"),
        ("new-2", "resolved", "g2"),
        ("gone", "resolved", "g3"),
    )
    plan = plan_delivery(
        alerts, known={"known": "INC-2026-0001"}, opened_at=[], rules=policy.alerts, now=NOW
    )
    assert [(a.incident_id, a.alert.fingerprint) for a in plan.attach] == [
        ("INC-2026-0001", "known"),
        ("INC-2026-0001", "sibling"),
    ]
    (opened,) = plan.open
    assert opened.group_key == "g2" and opened.lead.alert.fingerprint == "new-1"
    assert [r.alert.fingerprint for r in opened.alerts] == ["new-1", "new-2"]
    assert [a.fingerprint for a in plan.ignored] == ["gone"]
    assert plan.storm == ()


def test_plan_leads_with_the_most_severe_alert_of_a_group(policy: Policy) -> None:
    body = generic(
        {**generic_alert("drift", check="drift"), "group_key": "g"},
        {**generic_alert("leak", detector="pii", model="chat-v7"), "group_key": "g"},
    )
    plan = plan_delivery(
        parse_delivery(GENERIC, body).alerts, known={}, opened_at=[], rules=policy.alerts, now=NOW
    )
    (opened,) = plan.open
    assert (opened.lead.rule, opened.lead.severity) == ("pii-leak", Severity.SEV1)
    assert opened.page == (Role.LEGAL,)


def test_plan_storms_past_the_flood_limit_within_one_delivery() -> None:
    rules = AlertRules(flood=FloodRule(max_incidents=2, window=timedelta(minutes=10)))
    alerts = alerts_of(*((f"fp{i}", "firing", f"g{i}") for i in range(4)))
    earlier = [NOW - timedelta(minutes=20)]  # outside the window: does not count
    plan = plan_delivery(alerts, known={}, opened_at=earlier, rules=rules, now=NOW)
    assert [n.group_key for n in plan.open] == ["g0", "g1"]
    assert [n.group_key for n in plan.storm] == ["g2", "g3"]


def test_alertmanager_builder_matches_the_fixture_shape() -> None:
    delivery = parse_delivery(AM, alertmanager([am_alert("x", model="m")], group="G"))
    (alert,) = delivery.alerts
    assert (alert.fingerprint, alert.group_key, alert.labels["model"]) == ("x", "G", "m")
