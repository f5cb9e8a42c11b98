"""Outbox recovery (the first send attempt, the claiming process, recovery attempts) and the
per-channel pace that every sending process shares; stored runs keep their cluster count (the run
list no longer parses `$ai_clusters` for it).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("cluster_count", sa.Integer(), nullable=True))
    op.create_table(
        "channel_pace",
        sa.Column("channel", sa.String(40), primary_key=True),
        sa.Column("next_at", UtcDateTime(), nullable=False),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("first_attempt_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(120), nullable=True))
        batch.add_column(sa.Column("recoveries", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("recoveries")
        batch.drop_column("claimed_by")
        batch.drop_column("first_attempt_at")
    op.drop_table("channel_pace")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("cluster_count")
