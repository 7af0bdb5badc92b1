"""Short writes made at the same moment share one transaction (storage.group_commit).

    write(engine, (statement, params), ...)   the rows each statement changed, once committed

For the writes a channel opening or a delivery makes between Slack calls (the channel's row,
the summary card's ts, the outcome of a sent message): each takes well under a millisecond,
and alone each waited for this process's database writer and handed it on. In a burst
(bench/slack_ack.py, stop 22, per writer turn) those hand-overs left the writer idle for
1.6 s of 4.5 s while writes waited for it; three of them per channel opening were most of the
turns. The statements of one call run in order, in the same transaction; a batch that fails
is tried again one call at a time, so one bad write fails alone. Urgent writes
(`urgent_writes`) batch apart from routine ones, so that one never waits at the other's
priority.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.sql import Executable

from commandpost.storage.engine import transaction
from commandpost.storage.group_commit import PerEngine

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]]
Step = tuple[Executable, Params]
_Call = tuple[Engine, tuple[Step, ...]]  # the engine rides along (see PerEngine)


def write(engine: Engine, *steps: Step) -> list[int]:
    """Execute `steps` in order, in a transaction shared with the small writes of other
    threads made meanwhile; each step's rowcount, once that transaction has committed."""
    return COMMITS.commits(engine).ingest((engine, steps))


def _run_many(batch: Sequence[_Call]) -> list[list[int]]:
    with transaction(batch[0][0]) as session:
        db = session.connection()
        return [[db.execute(stmt, params).rowcount for stmt, params in steps] for _, steps in batch]


COMMITS: PerEngine[_Call, list[int]] = PerEngine(_run_many)
