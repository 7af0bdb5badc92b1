"""Declarations made at the same moment share one transaction, and each caller still gets its
own incident, its own origin on the audit trail, and its own error."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from sqlmodel import Session, col, select

from commandpost.core.vocabulary import IncidentClass
from commandpost.errors import InvalidInput
from commandpost.service import incidents
from commandpost.service import roles as service_roles
from commandpost.service.context import Context
from commandpost.service.origin import acting_from
from commandpost.storage import models as m

from .support import declaration
from .writersupport import commits_of, wait_until, writer_held

ORIGINS = ("slack", "teams", "cli", "drill", "web")


def declare_together(
    ctx: Context, titles: list[str]
) -> tuple[dict[str, m.Incident], dict[str, BaseException], list[int]]:
    """Each title declared on a thread of its own, from its own origin, while the writer is
    held, so that all but the first queue behind one another; the commits made meanwhile."""
    made: dict[str, m.Incident] = {}
    failed: dict[str, BaseException] = {}
    commits = commits_of(ctx.engine)

    def declare(title: str, origin: str) -> None:
        with acting_from(origin):
            try:
                made[title] = incidents.declare(
                    ctx, declaration(title, IncidentClass.HARMFUL_CONTENT)
                )
            except Exception as exc:
                failed[title] = exc

    threads = [
        threading.Thread(target=declare, args=(title, ORIGINS[n % len(ORIGINS)]))
        for n, title in enumerate(titles)
    ]
    with writer_held(ctx.engine) as release:
        before = len(commits)
        for thread in threads:
            thread.start()
        # One leads and waits for the writer with what it took; the rest queue behind it.
        wait_until(lambda: incidents.DECLARING.commits(ctx.engine).waiting() == len(titles) - 1)
        release()
        for thread in threads:
            thread.join(30)
    return made, failed, commits[before:]


def declared_events(ctx: Context) -> dict[str, dict[str, object]]:
    with Session(ctx.engine) as s:
        query = select(m.AuditEvent).where(m.AuditEvent.kind == "incident.declared")
        rows = list(s.exec(query.order_by(col(m.AuditEvent.seq))))
    return {str(e.incident_id): json.loads(e.data) for e in rows}


def test_declarations_made_together_share_a_transaction(ctx: Context) -> None:
    titles = [f"Burst {n}" for n in range(5)]
    made, failed, commits = declare_together(ctx, titles)
    assert not failed
    # Two transactions for five: the first alone (it led while the writer was held), then
    # the four that queued meanwhile. One each would be five.
    assert len(commits) == 2
    assert sorted(i.title for i in made.values()) == titles
    numbers = sorted(i.number for i in made.values())
    assert numbers == list(range(numbers[0], numbers[0] + 5))
    # Each declaration is recorded from its own caller's origin, not the leader's.
    recorded = declared_events(ctx)
    for n, title in enumerate(titles):
        assert recorded[made[title].id]["via"] == ORIGINS[n % len(ORIGINS)]
    # Every one of them was staffed and its channel queued, as a declaration alone is.
    with Session(ctx.engine) as s:
        for incident in made.values():
            held = s.exec(
                select(m.RoleAssignment).where(m.RoleAssignment.incident_id == incident.id)
            ).all()
            assert held
            opens = s.exec(
                select(m.OutboxItem)
                .where(m.OutboxItem.incident_id == incident.id)
                .where(m.OutboxItem.kind == "open_channel")
            ).all()
            assert len(opens) == 1


def test_a_declaration_that_fails_in_a_batch_fails_alone(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = service_roles.page_for_severity

    def page_unless_doomed(session: Session, ctx: Context, incident: m.Incident, **kw: Any) -> None:
        if incident.title == "Doomed":
            raise InvalidInput("no rotation answers")
        real(session, ctx, incident, **kw)

    monkeypatch.setattr(incidents, "page_for_severity", page_unless_doomed)
    titles = ["First", "Second", "Doomed", "Fourth"]
    made, failed, _ = declare_together(ctx, titles)
    assert set(failed) == {"Doomed"} and isinstance(failed["Doomed"], InvalidInput)
    assert sorted(made) == ["First", "Fourth", "Second"]
    with Session(ctx.engine) as s:
        stored = s.exec(select(m.Incident.title)).all()
    # The batch it spoiled was rolled back and its others recorded each alone.
    assert sorted(stored) == ["First", "Fourth", "Second"]
    recorded = declared_events(ctx)
    assert sorted(recorded) == sorted(i.id for i in made.values())
