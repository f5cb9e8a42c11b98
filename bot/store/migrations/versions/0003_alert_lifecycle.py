"""Alert lifecycle: open episodes per channel, processed runs, outbox updates (chat.update).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "processed_runs",
        sa.Column("run_id", sa.String(300), primary_key=True),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("job_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_processed_runs_series", "processed_runs", ["level", "job_id"])
    op.create_table(
        "alert_episodes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("job_id", sa.String(100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
    )
    op.create_index("ix_alert_episodes_series", "alert_episodes", ["channel", "level", "job_id"])
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("action", sa.String(10), nullable=False, server_default="post"))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("action")
    op.drop_index("ix_alert_episodes_series", "alert_episodes")
    op.drop_table("alert_episodes")
    op.drop_index("ix_processed_runs_series", "processed_runs")
    op.drop_table("processed_runs")
