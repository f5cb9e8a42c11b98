"""Early warnings between daily runs: each series' last check (`early_checks`) and each warning
posted, until the next run confirms or retracts it (`early_warnings`).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "early_checks",
        sa.Column("level", sa.String(20), primary_key=True),
        sa.Column("job_id", sa.String(100), primary_key=True),
        sa.Column("run_id", sa.String(300), nullable=False),
        sa.Column("checked_at", UtcDateTime(), nullable=False),
        sa.Column("newest_summary", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "early_warnings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("job_id", sa.String(100), nullable=False),
        sa.Column("run_id", sa.String(300), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("settled_run_id", sa.String(300), nullable=True),
        sa.UniqueConstraint("channel", "run_id", "cluster_id", "kind", name="uq_early_warning"),
    )
    op.create_index("ix_early_warnings_series", "early_warnings", ["level", "job_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_early_warnings_series", "early_warnings")
    op.drop_table("early_warnings")
    op.drop_table("early_checks")
