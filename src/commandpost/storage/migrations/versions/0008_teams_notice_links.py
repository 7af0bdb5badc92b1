"""Teams notice-review links used once (issue 8)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from commandpost.storage.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams_notice_link_uses",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=80), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["notice_id"], ["notices.id"]),
        sa.PrimaryKeyConstraint("nonce"),
    )
    with op.batch_alter_table("teams_notice_link_uses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_teams_notice_link_uses_notice_id"), ["notice_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("teams_notice_link_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teams_notice_link_uses_notice_id"))
    op.drop_table("teams_notice_link_uses")
