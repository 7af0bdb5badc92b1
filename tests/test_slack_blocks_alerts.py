"""The summary card's alert count: shown for incidents alerts opened or joined, read from the
database by `summary_view`, and within Block Kit's limits with every other fact present."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from commandpost.chat.slack import blocks as b
from commandpost.chat.slack.views import summary_view
from commandpost.core.alerts import AlertSource
from commandpost.core.vocabulary import IncidentClass, Role, Severity
from commandpost.service.alerts import ingest
from commandpost.service.context import Context
from commandpost.storage.engine import read_transaction

from .alertsupport import alertmanager, am_alert, fixture
from .blockcheck import NOW, check_message, summary
from .support import declare_incident

AM = AlertSource.ALERTMANAGER


def fields_of(msg: b.SlackMessage) -> dict[str, str]:
    """The facts section's fields, name → value."""
    section = msg.blocks[1]
    found: dict[str, str] = {}
    for field in section.get("fields", []):
        name, _, value = field["text"].partition("\n")
        found[name.strip("*")] = value
    return found


def test_the_card_shows_the_alert_count() -> None:
    msg = b.summary_card(summary(alerts=b.AlertsLine(alerts=12, fingerprints=3, firing=2)))
    check_message(msg)
    assert fields_of(msg)["Alerts"] == "12 received · 3 distinct · 2 still firing"


def test_a_card_without_alerts_has_no_alerts_field() -> None:
    msg = b.summary_card(summary())
    check_message(msg)
    assert "Alerts" not in fields_of(msg)


def test_the_alert_count_keeps_every_other_fact_and_the_role_page_shows_it() -> None:
    view = summary(alerts=b.AlertsLine(alerts=1, fingerprints=1, firing=0))
    names = list(fields_of(b.summary_card(view)))
    # Every fact the card can show, with the count last: nothing was pushed out.
    assert names == [
        "Severity",
        "Status",
        "Class",
        "Model",
        "Surface",
        "Tenant",
        "Region",
        "Channel",
        "Alerts",
    ]
    page = b.role_page(b.RolePageView(view, Role.LEGAL, ack_by=NOW))
    check_message(page)
    assert "1 received · 1 distinct · 0 still firing" in json.dumps(page.blocks, ensure_ascii=False)


@settings(max_examples=40, deadline=None)
@given(counts=st.tuples(*[st.integers(min_value=0, max_value=10**12)] * 3))
def test_any_count_stays_within_limits(counts: tuple[int, int, int]) -> None:
    alerts, fingerprints, firing = counts
    view = summary(alerts=b.AlertsLine(alerts=alerts, fingerprints=fingerprints, firing=firing))
    check_message(b.summary_card(view))


# -- read from the database (both lanes) -------------------------------------------------------


def card_alerts(ctx: Context, incident_id: str) -> b.AlertsLine | None:
    with read_transaction(ctx.engine) as session:
        view = summary_view(session, ctx.policy, incident_id)
    assert view is not None
    check_message(b.summary_card(view))
    return view.alerts


def test_summary_view_reads_the_tally_of_an_alert_opened_incident(ctx: Context) -> None:
    (incident_id,) = ingest(ctx, source=AM, body=fixture("alertmanager_firing")).opened
    assert card_alerts(ctx, incident_id) == b.AlertsLine(alerts=2, fingerprints=2, firing=2)
    ingest(ctx, source=AM, body=fixture("alertmanager_resolved"))
    assert card_alerts(ctx, incident_id) == b.AlertsLine(alerts=3, fingerprints=2, firing=1)


def test_summary_view_of_a_declared_incident_has_no_alerts(ctx: Context) -> None:
    incident_id = declare_incident(ctx, "By hand", IncidentClass.DATA_LEAKAGE, Severity.SEV1)
    assert card_alerts(ctx, incident_id) is None


def test_summary_view_of_a_storm_counts_every_grouped_alert(ctx: Context) -> None:
    flood = ctx.policy.alerts.flood.max_incidents
    for n in range(flood):
        body = alertmanager([am_alert(f"fp-{n}")], group=f"G{n}")
        assert ingest(ctx, source=AM, body=body).opened
    body = alertmanager([am_alert("fp-x"), am_alert("fp-y")], group="storm")
    storm = ingest(ctx, source=AM, body=body).storm_incident
    assert storm is not None
    assert card_alerts(ctx, storm) == b.AlertsLine(alerts=2, fingerprints=2, firing=2)
