"""slack gate cards: where each gate card was posted and what it last showed

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from commandpost.storage.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_gate_cards",
        sa.Column("gate_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.String(length=20), nullable=False),
        sa.Column("channel_id", sa.String(length=40), nullable=False),
        sa.Column("ts", sa.String(length=40), nullable=False),
        sa.Column("rendered", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["gate_id"], ["gates.id"]),
        sa.PrimaryKeyConstraint("gate_id"),
    )
    with op.batch_alter_table("slack_gate_cards", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_slack_gate_cards_incident_id"), ["incident_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("slack_gate_cards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_gate_cards_incident_id"))
    op.drop_table("slack_gate_cards")
