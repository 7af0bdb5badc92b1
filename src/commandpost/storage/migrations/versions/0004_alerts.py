"""alert ingestion: deliveries seen, incidents opened from alerts, fingerprints attached

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from commandpost.storage.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("first_received_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "body_sha256", name="uq_alert_delivery_body"),
    )
    op.create_table(
        "alert_incidents",
        sa.Column("incident_id", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("rule", sa.String(length=80), nullable=False),
        sa.Column("group_key", sa.String(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("fingerprints", sa.Integer(), nullable=False),
        sa.Column("firing", sa.Integer(), nullable=False),
        sa.Column("last_alert_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("incident_id"),
    )
    with op.batch_alter_table("alert_incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_incidents_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_alert_incidents_opened_at"), ["opened_at"], unique=False
        )
    op.create_table(
        "alert_fingerprints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("incident_id", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("rule", sa.String(length=80), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_status", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "fingerprint", "incident_id", name="uq_alert_fingerprint"),
    )
    with op.batch_alter_table("alert_fingerprints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_fingerprints_incident_id"), ["incident_id"], unique=False
        )
        batch_op.create_index(
            "ix_alert_fingerprints_source_fingerprint", ["source", "fingerprint"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_fingerprints", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_fingerprints_source_fingerprint")
        batch_op.drop_index(batch_op.f("ix_alert_fingerprints_incident_id"))
    op.drop_table("alert_fingerprints")
    with op.batch_alter_table("alert_incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_incidents_opened_at"))
        batch_op.drop_index(batch_op.f("ix_alert_incidents_kind"))
    op.drop_table("alert_incidents")
    op.drop_table("alert_deliveries")
