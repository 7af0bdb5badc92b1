"""indexes for the reads that went through an index on state alone

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27

SQLite picks one index a table, and with an equality on both incident_id and state it took
the one on state: the summary card's read of an incident's pending deadlines and open gates
read every pending deadline and open gate there is, and the reads of channel openings (due
ones, incidents still being opened, a handed-over one) every pending and sending item of
the outbox, twenty times a second in a burst.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_outbox_kind_state", "outbox", ["kind", "state"]),
    ("ix_deadlines_incident_state", "deadlines", ["incident_id", "state"]),
    ("ix_gates_incident_state", "gates", ["incident_id", "state"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
