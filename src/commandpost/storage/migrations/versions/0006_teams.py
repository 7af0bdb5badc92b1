"""Teams approval tokens used once (issue 8)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from commandpost.storage.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams_link_uses",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("gate_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=80), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["gate_id"], ["gates.id"]),
        sa.PrimaryKeyConstraint("nonce"),
    )
    with op.batch_alter_table("teams_link_uses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teams_link_uses_gate_id"), ["gate_id"], unique=False)
    op.create_table(
        "teams_cards",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("incident_id", sa.String(length=20), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("posted_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("teams_cards", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_teams_cards_incident_id"), ["incident_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("teams_cards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teams_cards_incident_id"))
    op.drop_table("teams_cards")
    with op.batch_alter_table("teams_link_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teams_link_uses_gate_id"))
    op.drop_table("teams_link_uses")
