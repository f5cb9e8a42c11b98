"""Query budgets shared by every process: a lock row per budget and a log of spends.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "query_budgets",
        sa.Column("name", sa.String(120), primary_key=True),
        sa.Column("capacity", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "query_spends",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(120), nullable=False, index=True),
        sa.Column("at", sa.Float(), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("query_spends")
    op.drop_table("query_budgets")
