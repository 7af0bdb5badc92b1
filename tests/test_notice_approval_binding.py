"""An approval names the text it was given for: a different hash is refused, writing nothing."""

from __future__ import annotations

import pytest

from commandpost.errors import Conflict
from commandpost.service import notices
from commandpost.service.context import Context

from .noticesupport import NEXT_STEPS, review_incident
from .support import TABLES, counts

ALL = (*TABLES, "notices", "notice_approvals", "notice_deliveries")


def test_approving_a_text_that_changed_since_it_was_read_is_refused(ctx: Context) -> None:
    incident = review_incident(ctx)
    made = notices.draft(
        ctx, incident, template="customer_initial", actor="grace", facts={"next_steps": NEXT_STEPS}
    )
    edited = notices.edit(ctx, made.id, actor="grace", text=made.text + "\nThank you.\n")
    before = counts(ctx, ALL)
    with pytest.raises(Conflict, match="the text changed"):
        notices.approve(ctx, made.id, actor="grace", expected_sha256=made.sha256)
    assert counts(ctx, ALL) == before
    done = notices.approve(ctx, made.id, actor="grace", expected_sha256=edited.sha256.upper())
    assert [(a.person_id, a.role, a.sha256) for a in done.approvals] == [
        ("grace", "comms", edited.sha256)
    ]
