"""Opening an incident for alerts, inside the ingestion's own transaction.

The declaring itself is `incidents.declare_in`, the same steps `declare` takes, so an
alert-opened incident pages and times exactly like a declared one. What differs from
`declare` is why this is not a call to it:
- it runs in the caller's transaction, so a delivery's bookkeeping and the incidents it opens
  commit together or not at all;
- the declarer is the monitor ("alert:<source>"), not a person in the policy, which `declare`
  (rightly, for people) refuses.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from commandpost.core.vocabulary import Role
from commandpost.service.context import Context
from commandpost.service.incidents import Declaration, declare_in
from commandpost.storage import models as m


def open_incident(
    session: Session,
    ctx: Context,
    spec: Declaration,
    *,
    extra_page: Sequence[Role] = (),
    why: str = "paged by the alert route",
) -> m.Incident:
    """Declare `spec` in `session`, also paging `extra_page` (the matched route's roles)."""
    return declare_in(session, ctx, spec, extra_page=extra_page, why=why)
