"""slack channels, handled slack events, outbox not_before

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from commandpost.storage.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_channels",
        sa.Column("incident_id", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("channel_id", sa.String(length=40), nullable=False),
        sa.Column("summary_ts", sa.String(length=40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("incident_id"),
    )
    with op.batch_alter_table("slack_channels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slack_channels_name"), ["name"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_slack_channels_channel_id"), ["channel_id"], unique=False
        )
    op.create_table(
        "slack_events",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("not_before", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("not_before")
    op.drop_table("slack_events")
    with op.batch_alter_table("slack_channels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_channels_channel_id"))
        batch_op.drop_index(batch_op.f("ix_slack_channels_name"))
    op.drop_table("slack_channels")
