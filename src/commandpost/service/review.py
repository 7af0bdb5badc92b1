"""The post-incident review: opened at `resolve`, edited by the responders, marked done by the
incident commander; `close` waits for done.

Every step is an audit event: review.opened (with the draft's hash), review.edited (with a
unified diff, as notice edits are), review.done. Only the incident commander marks it done,
checked here whatever the caller; a review that is done is no longer edited (its text is
what was agreed).
"""

from __future__ import annotations

import difflib
import hashlib

from sqlmodel import Session

from commandpost.core.vocabulary import Role
from commandpost.errors import Conflict, InvalidInput, NotFound
from commandpost.service.context import Context, audit, load_incident, post
from commandpost.service.incident_changes import require_role
from commandpost.service.review_facts import review_facts
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction, transaction
from commandpost.storage.review_models import Review
from commandpost.templating import render

TEMPLATE = "review.md.j2"
DRAFT = "draft"
DONE = "done"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def render_draft(session: Session, ctx: Context, incident: m.Incident) -> str:
    return render(TEMPLATE, **review_facts(session, ctx, incident))


def open_review(session: Session, ctx: Context, incident: m.Incident, *, actor: str) -> Review:
    """Open the draft inside the resolving transaction.

    Resolved again after a reopen, the incident keeps the review it has: its text is the
    responders' work, which a fresh draft must not overwrite.
    """
    existing = session.get(Review, incident.id)
    if existing is not None:
        return existing
    session.flush()  # the resolution must be visible to the facts read below
    now = ctx.now()
    text = render_draft(session, ctx, incident)
    review = Review(
        incident_id=incident.id,
        text=text,
        sha256=_sha256(text),
        state=DRAFT,
        opened_at=now,
        updated_by=actor,
        updated_at=now,
    )
    session.add(review)
    audit(session, ctx, incident, actor=actor, kind="review.opened", sha256=review.sha256)
    post(
        session,
        ctx,
        incident,
        f"Post-incident review draft opened for {incident.id}: read it with `/incident review`, "
        f"fill in contributing factors, what worked and action items; the incident commander "
        f"marks it done (`/incident review done`) before the incident can be closed.",
    )
    return review


def get(ctx: Context, incident_id: str) -> Review:
    with read_transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id)
        return _review_of(session, incident)


def edit(ctx: Context, incident_id: str, *, actor: str, text: str) -> Review:
    """Replace the review's text (kept exactly as given); anyone with a role here may."""
    if not text.strip():
        raise InvalidInput("a review needs text")
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        require_role(session, ctx, incident, actor, doing="edit the review")
        review = _review_of(session, incident)
        if review.state == DONE:
            raise Conflict(f"the review of {incident.id} is done; it is no longer edited")
        if text == review.text:
            raise InvalidInput(f"the review of {incident.id}: the text is unchanged")
        diff = list(
            difflib.unified_diff(
                review.text.splitlines(),
                text.splitlines(),
                fromfile=f"review-{incident.id}-v{review.version}",
                tofile=f"review-{incident.id}-v{review.version + 1}",
                lineterm="",
            )
        )
        before = review.sha256
        review.text, review.sha256 = text, _sha256(text)
        review.version += 1
        review.updated_by, review.updated_at = actor, ctx.now()
        session.add(review)
        audit(
            session,
            ctx,
            incident,
            actor=actor,
            kind="review.edited",
            version=review.version,
            sha256_before=before,
            sha256=review.sha256,
            diff=diff,
        )
        post(session, ctx, incident, f"Review edited by {actor} (version {review.version}).")
        return review


def mark_done(ctx: Context, incident_id: str, *, actor: str) -> Review:
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        require_role(
            session,
            ctx,
            incident,
            actor,
            roles=(Role.INCIDENT_COMMANDER,),
            doing="mark the review done",
        )
        review = _review_of(session, incident)
        if review.state == DONE:
            raise Conflict(f"the review of {incident.id} is already done (by {review.done_by})")
        now = ctx.now()
        review.state, review.done_by, review.done_at = DONE, actor, now
        session.add(review)
        audit(
            session,
            ctx,
            incident,
            actor=actor,
            kind="review.done",
            version=review.version,
            sha256=review.sha256,
        )
        post(session, ctx, incident, f"Review marked done by {actor}; the incident can be closed.")
        return review


def require_done(session: Session, incident: m.Incident) -> None:
    """`close` asks this first: closed means the post-incident review is done."""
    review = session.get(Review, incident.id)
    if review is None or review.state != DONE:
        raise Conflict(
            f"{incident.id} cannot be closed before its post-incident review is done: "
            f"complete it (`commandpost review edit {incident.id}` or `/incident review`) and "
            f"have the incident commander mark it done (`commandpost review done "
            f"{incident.id}` or `/incident review done`)"
        )


def _review_of(session: Session, incident: m.Incident) -> Review:
    review = session.get(Review, incident.id)
    if review is None:
        raise NotFound(f"{incident.id} has no review yet: one is opened when it is resolved")
    return review
