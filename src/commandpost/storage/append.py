"""Append-only rows (audit events, outbox intents) written in one batch per transaction.

A burst of deadline firings appends five rows per firing; on PostgreSQL one INSERT per row is
one round trip each, which is most of the time a firing takes. Rows appended here are kept
on the session and written just before the transaction commits, one executemany per table,
in the order they were appended. A rollback drops them with everything else.

Read-your-writes still holds: an ORM query in the same transaction that reads one of these
tables writes the pending rows first (the way the ORM autoflushes pending objects).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, event, insert
from sqlalchemy.orm import ORMExecuteState, SessionTransaction
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.sql.util import find_tables

_PENDING = "commandpost.appended"


@dataclass
class _Pending:
    transaction: SessionTransaction | None
    rows: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)


def append(session: OrmSession, table: Table, row: dict[str, Any]) -> None:
    """Insert `row` into `table` as part of this transaction (written at the latest at commit)."""
    session.connection()  # begins the transaction if nothing has yet, so it can be named
    current = session.get_transaction()
    pending: _Pending | None = session.info.get(_PENDING)
    if pending is None or pending.transaction is not current:
        pending = _Pending(current)
        session.info[_PENDING] = pending
    pending.rows.setdefault(table, []).append(row)


def write_appended(session: OrmSession, *, only: Container[object] | None = None) -> None:
    """Write the rows appended so far in this transaction (all tables, or `only` these)."""
    pending: _Pending | None = session.info.get(_PENDING)
    if pending is None or pending.transaction is not session.get_transaction():
        return
    for table in list(pending.rows):
        if only is not None and table not in only:
            continue
        rows = pending.rows.pop(table)
        if rows:
            session.execute(insert(table), rows)


@event.listens_for(OrmSession, "before_commit")
def _before_commit(session: OrmSession) -> None:
    write_appended(session)


@event.listens_for(OrmSession, "do_orm_execute")
def _before_read(state: ORMExecuteState) -> None:
    pending: _Pending | None = state.session.info.get(_PENDING)
    if not pending or not pending.rows or not state.is_select:
        return
    if pending.transaction is not state.session.get_transaction():
        return
    statement = state.statement
    if not isinstance(statement, ClauseElement):
        return
    touched = {t for t in find_tables(statement, include_joins=True) if t in pending.rows}
    if touched:
        write_appended(state.session, only=touched)
