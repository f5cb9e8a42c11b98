"""The initial schema: runs, series, outbox, subscriptions, settings, mutes, leases, heartbeats.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(300), primary_key=True),
        sa.Column("level", sa.String(20), nullable=False, index=True),
        sa.Column("job_id", sa.String(100), nullable=False, index=True),
        sa.Column("timestamp", UtcDateTime(), nullable=False, index=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("stored_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "series",
        sa.Column("level", sa.String(20), primary_key=True),
        sa.Column("job_id", sa.String(100), primary_key=True),
        sa.Column("last_run_id", sa.String(300), nullable=False),
        sa.Column("last_run_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(40), nullable=False, index=True),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("parent_key", sa.String(400), nullable=True),
        sa.Column("run_id", sa.String(300), nullable=False, index=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("blocks", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, index=True),
        sa.Column("ts", sa.String(40), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("claimed_at", UtcDateTime(), nullable=True),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.UniqueConstraint("channel", "key", name="uq_outbox_channel_key"),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(40), nullable=False, index=True),
        sa.Column("level", sa.String(20), nullable=True),
        sa.Column("job", sa.String(200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(40), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("channel", "level", "job", name="uq_subscription"),
    )
    op.create_table(
        "channel_settings",
        sa.Column("channel", sa.String(40), primary_key=True),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("quiet_summary", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(40), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "mutes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(40), nullable=False, index=True),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("job_id", sa.String(100), nullable=False),
        sa.Column("run_id", sa.String(300), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("until", UtcDateTime(), nullable=False, index=True),
        sa.Column("created_by", sa.String(40), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("channel", "run_id", "cluster_id", name="uq_mute"),
    )
    op.create_table(
        "series_leases",
        sa.Column("level", sa.String(20), primary_key=True),
        sa.Column("job_id", sa.String(100), primary_key=True),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("lease_until", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "heartbeats",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "heartbeats",
        "series_leases",
        "mutes",
        "channel_settings",
        "subscriptions",
        "outbox",
        "series",
        "runs",
    ):
        op.drop_table(table)
