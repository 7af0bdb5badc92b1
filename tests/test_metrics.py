"""Incident metrics from the database: the report, the Prometheus collector and the CLI."""

from __future__ import annotations

import json
from datetime import timedelta

from commandpost.core.gates import Decision
from commandpost.core.vocabulary import IncidentClass, Severity
from commandpost.service import gates, outbox, review_metrics
from commandpost.service.context import Context
from commandpost.service.incidents import resolve
from commandpost.service.ports import ManualClock

from .conftest import MakeCtx
from .support import RecordingExecutor, contain, declare_incident, run_cli, staff

DECEPTIVE = IncidentClass.DECEPTIVE_OUTPUT


def three_incidents(ctx: Context, clock: ManualClock) -> None:
    """Two SEV1 deceptive-output incidents (one on time, one late) and an open SEV2."""
    start = clock.now()
    a = declare_incident(ctx, "Invents refunds", DECEPTIVE)
    b = declare_incident(ctx, "Invents citations", DECEPTIVE)
    c = declare_incident(ctx, "Jailbreak", IncidentClass.PROMPT_INJECTION, Severity.SEV2)
    clock.advance(timedelta(minutes=1))
    staff(ctx, c, "alice", "erin")
    clock.advance(timedelta(minutes=1))
    staff(ctx, a, "alice", "erin")  # a acknowledged at 2m
    approved = contain(ctx, a, requester="alice")
    rejected = contain(ctx, c, "disable_endpoint", {"endpoint": "/v1/chat"}, requester="alice")
    clock.advance(timedelta(minutes=10))
    gates.decide(ctx, approved, actor="erin", decision=Decision.APPROVE)  # a contained at 12m
    gates.decide(ctx, rejected, actor="erin", decision=Decision.REJECT, reason="too broad")
    outbox.deliver(ctx)
    clock.advance(timedelta(minutes=8))
    staff(ctx, b, "alice")  # b acknowledged at 20m: past SEV1's 10m
    clock.advance(timedelta(minutes=25))
    resolve(ctx, a, actor="alice", summary="rolled back")  # 45m
    clock.advance(timedelta(minutes=5))
    resolve(ctx, b, actor="alice", summary="prompt fixed")  # 50m, never contained: past 30m
    assert clock.now() - start == timedelta(minutes=50)


def test_report_by_class_and_severity(make_ctx: MakeCtx, clock: ManualClock) -> None:
    ctx = make_ctx(executor=RecordingExecutor())
    three_incidents(ctx, clock)
    made = review_metrics.report(ctx)
    assert [(g.klass, g.severity, g.incidents) for g in made.groups] == [
        ("deceptive_output", "SEV1", 2),
        ("prompt_injection", "SEV2", 1),
    ]
    sev1 = made.to_json()["groups"][0]["milestones"]
    assert sev1["acknowledged"] == {
        "count": 2, "mean_seconds": 660.0, "median_seconds": 660.0, "sla_breaches": 1,
    }  # fmt: skip
    assert sev1["contained"] == {
        "count": 1, "mean_seconds": 720.0, "median_seconds": 720.0, "sla_breaches": 1,
    }  # fmt: skip
    assert sev1["resolved"] == {
        "count": 2, "mean_seconds": 2850.0, "median_seconds": 2850.0, "sla_breaches": 0,
    }  # fmt: skip
    assert sev1["notified"] == {
        "count": 0, "mean_seconds": None, "median_seconds": None, "sla_breaches": 0,
    }  # fmt: skip
    # The open SEV2: acknowledged at 1m; at 50m its 4h mitigation SLA is not yet gone.
    assert made.breaches() == {"acknowledged": 1, "contained": 1, "notified": 0, "resolved": 0}
    assert made.gates == {("containment", "approved"): 1, ("containment", "rejected"): 1}
    clock.advance(timedelta(hours=4))
    assert review_metrics.report(ctx).breaches()["contained"] == 2  # now the SEV2's too


def test_the_collector_exports_histograms_breaches_and_gates(
    make_ctx: MakeCtx, clock: ManualClock
) -> None:
    ctx = make_ctx(executor=RecordingExecutor())
    three_incidents(ctx, clock)
    families = {f.name: f for f in review_metrics.IncidentCollector(ctx).collect()}
    key = {"milestone": "acknowledged", "class": "deceptive_output", "severity": "SEV1"}
    buckets = {
        s.labels["le"]: s.value
        for s in families["commandpost_incident_milestone_seconds"].samples
        if s.name.endswith("_bucket") and {k: s.labels[k] for k in key} == key
    }
    # 2m and 20m: one by 5 minutes, both by 30.
    assert (buckets["60.0"], buckets["300.0"], buckets["900.0"], buckets["1800.0"]) == (0, 1, 1, 2)
    assert buckets["+Inf"] == 2
    sums = [
        s.value
        for s in families["commandpost_incident_milestone_seconds"].samples
        if s.name.endswith("_sum") and s.labels == key
    ]
    assert sums == [1320.0]
    breaches = {
        (s.labels["milestone"], s.labels["class"]): s.value
        for s in families["commandpost_incident_sla_breaches"].samples
    }
    assert breaches[("acknowledged", "deceptive_output")] == 1
    assert breaches[("contained", "prompt_injection")] == 0
    gate_samples = {
        (s.labels["kind"], s.labels["outcome"]): s.value
        for s in families["commandpost_gates"].samples
    }
    assert gate_samples == {("containment", "approved"): 1, ("containment", "rejected"): 1}


def test_cli_metrics_table_and_json(make_ctx: MakeCtx, clock: ManualClock, db_url: str) -> None:
    ctx = make_ctx(executor=RecordingExecutor())
    three_incidents(ctx, clock)
    as_json = run_cli("metrics", "--json", db_url=db_url)
    assert as_json.returncode == 0, as_json.stderr
    body = json.loads(as_json.stdout)
    first = body["groups"][0]
    assert (first["class"], first["severity"], first["incidents"]) == (
        "deceptive_output",
        "SEV1",
        2,
    )
    assert first["milestones"]["resolved"]["median_seconds"] == 2850.0
    assert {"kind": "containment", "outcome": "rejected", "count": 1} in body["gates"]
    table = run_cli("metrics", db_url=db_url)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    row = next(line for line in lines if line.startswith("deceptive_output"))
    # n mean/median late, per milestone: ack, contain, notify, resolve.
    assert row.split() == [
        "deceptive_output", "SEV1", "2", "2", "11m/11m", "1", "1", "12m/12m", "1",
        "0", "-/-", "0", "2", "47m30s/47m30s", "0",
    ]  # fmt: skip
    assert any(line.split() == ["containment", "approved", "1"] for line in lines)


def test_cli_metrics_on_an_empty_database(db_url: str) -> None:
    shown = run_cli("metrics", db_url=db_url)
    assert shown.returncode == 0, shown.stderr
    assert "(no incidents recorded)" in shown.stdout and "(no gates recorded)" in shown.stdout
