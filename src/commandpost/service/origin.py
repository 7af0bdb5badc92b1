"""Where an action came from, recorded on every audit event it causes.

    with acting_from("teams"):      everything the block records says `"via": "teams"`
    current()                       the origin in force here, or None
    carried(work)                   `work` bound to this thread's origin, to run on another

Each adapter sets the origin at its entry point: the Slack listeners (`slack`), the Teams
approval page and outgoing webhook (`teams`), the command line (`cli`), alert ingest
(`alert`), deadline firings (`timer`), the drill runner (`drill`); `web` is for a browser
page that is not Teams'. The innermost block wins, so a deadline that fires during a drill
records `timer`. The value is a context variable: it follows the code, not a global, and a
thread starts without one, so work handed to another thread takes it along (`carried`).
Events recorded with no origin in force (deliveries, maintenance) carry no `via`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final, TypeVar

from commandpost.errors import InvalidInput

ORIGINS: Final = frozenset({"slack", "teams", "cli", "web", "alert", "timer", "drill"})
KEY: Final = "via"  # the audit event's data field

_ORIGIN: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "commandpost_origin", default=None
)
T = TypeVar("T")


def current() -> str | None:
    return _ORIGIN.get()


@contextmanager
def acting_from(origin: str) -> Iterator[None]:
    if origin not in ORIGINS:
        # A typo here would be written into the audit chain for good.
        raise InvalidInput(f"unknown origin {origin!r}; one of {', '.join(sorted(ORIGINS))}")
    token = _ORIGIN.set(origin)
    try:
        yield
    finally:
        _ORIGIN.reset(token)


def carried(work: Callable[[], T]) -> Callable[[], T]:
    """`work` as it would run here: on another thread it still records this origin."""
    origin = current()
    if origin is None:
        return work

    def run() -> T:
        with acting_from(origin):
            return work()

    return run
