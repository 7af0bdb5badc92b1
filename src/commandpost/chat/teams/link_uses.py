"""Spending a signed link (a gate's or a notice's) around the decision it makes.

The link's nonce is stored before the decision and given back if the service refuses, so a
refused decision leaves nothing behind, and two submits of one link race on the nonce's
primary key: one decides, the other is refused as used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from commandpost.chat.teams.approvals import LinkRefused
from commandpost.errors import UserError
from commandpost.service.context import Context
from commandpost.storage.engine import transaction
from commandpost.storage.teams_models import TeamsLinkUse, TeamsNoticeLinkUse

T = TypeVar("T")
LinkUse = TeamsLinkUse | TeamsNoticeLinkUse


def spend_then(ctx: Context, use: LinkUse, *, decide: Callable[[], T], used: str) -> T:
    """Store `use`, then `decide()`; LinkRefused("used", `used`) when the link was spent
    already, and `use` removed again when the decision raises the service's UserError."""
    table, nonce = type(use), use.nonce  # read before the commit expires the row
    try:
        with transaction(ctx.engine) as session:
            session.add(use)
    except IntegrityError:
        raise LinkRefused("used", used) from None
    try:
        return decide()
    except UserError:
        with transaction(ctx.engine) as session:
            row = session.get(table, nonce)
            if row is not None:
                session.delete(row)
        raise
