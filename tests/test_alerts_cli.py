"""`commandpost alerts route FILE.json`, in a real process: reads a payload and the policy only."""

from __future__ import annotations

import json
from pathlib import Path

from .alertsupport import FIXTURES
from .support import POLICY_FILE, run_cli

ENV = {"COMMANDPOST_POLICY": str(POLICY_FILE)}


def route(*args: str) -> tuple[int, str, str]:
    result = run_cli("alerts", "route", *args, env=ENV)
    return result.returncode, result.stdout, result.stderr


def test_each_alert_shows_its_route_class_severity_title_and_pages() -> None:
    code, out, err = route(str(FIXTURES / "alertmanager_firing.json"))
    assert code == 0, err
    assert "2 alert(s) from alertmanager (guessed; pass --source to choose)" in out
    assert "2 alerts, one incident" in out
    assert out.count("route:       pii-leak") == 2
    assert "class:       data_leakage" in out and "severity:    SEV1" in out
    assert "title:       PII detected in chat-v7 output" in out
    assert "surface:     model chat-v7 | version 2026-02-28 | endpoint consumer-chat" in out
    assert "pages:       incident_commander, model_owner, safety_lead, comms, legal" in out


def test_the_default_route_missing_labels_and_resolved_alerts(tmp_path: Path) -> None:
    code, out, _ = route(str(FIXTURES / "grafana_firing.json"), "--source", "grafana")
    assert code == 0 and "(guessed" not in out
    assert "route:       safety-classifier-spike" in out and "route:       default" in out
    payload = tmp_path / "alert.json"
    alert = {"status": "resolved", "title": "Refunds", "labels": {"detector": "tool_use"}}
    payload.write_text(json.dumps({"alerts": [alert]}))
    code, out, _ = route(str(payload))
    assert code == 0
    assert "title:       Runaway tool use by unknown agent" in out
    assert "missing labels: agent, model, endpoint" in out
    assert "never opens one" in out


def test_bad_input_is_exit_2_with_a_reason(tmp_path: Path) -> None:
    code, _, err = route(str(FIXTURES / "grafana_firing.json"), "--source", "alertmanager")
    assert code == 2 and "error: not a alertmanager payload: version" in err
    code, _, err = route(str(FIXTURES / "grafana_firing.json"), "--source", "nagios")
    assert code == 2 and "unknown alert source 'nagios'" in err
    code, _, err = route(str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in err
    assert "Traceback" not in err
