"""The flood rule under concurrency: deliveries take the ingest lock in an order other than
the one they were received in, and the limit still holds."""

from __future__ import annotations

from datetime import timedelta

from commandpost.core.alerts import AlertSource
from commandpost.service.alerts import ingest
from commandpost.service.context import Context
from commandpost.service.ports import ManualClock

from .alertsupport import alertmanager, am_alert, open_incidents_by_fingerprint

AM = AlertSource.ALERTMANAGER


def test_an_opening_stamped_after_a_delivery_still_counts_against_its_flood_limit(
    ctx: Context, clock: ManualClock
) -> None:
    limit = ctx.policy.alerts.flood.max_incidents
    later, earlier = clock.now() + timedelta(seconds=1), clock.now() + timedelta(milliseconds=500)
    for n in range(limit):
        body = alertmanager([am_alert(f"fp-{n}")], group=f"G{n}")
        assert ingest(ctx, source=AM, body=body, received_at=later).opened
    # Received before the last opening, but handled after it (it waited for the lock).
    body = alertmanager([am_alert("slow")], group="S")
    result = ingest(ctx, source=AM, body=body, received_at=earlier)
    assert result.opened == () and result.storm_opened
    homes = open_incidents_by_fingerprint(ctx)
    assert homes[("alertmanager", "slow")] == [result.storm_incident]
    assert len({i for ids in homes.values() for i in ids}) == limit + 1
