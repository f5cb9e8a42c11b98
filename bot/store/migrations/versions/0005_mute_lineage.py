"""Mutes remember the mute they were carried from (`lineage`), so `unmute` lifts one mute from
every run it followed a cluster to, and never a mute of another cluster that had the same id in
another run. Existing copies are linked by what carrying copies unchanged: channel, series, end
time and who muted.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mutes") as batch:
        batch.add_column(sa.Column("lineage", sa.Integer(), nullable=True))
        batch.create_index("ix_mutes_lineage", ["lineage"])
    op.execute(
        "UPDATE mutes SET lineage = (SELECT MIN(origin.id) FROM mutes AS origin"
        " WHERE origin.channel = mutes.channel AND origin.level = mutes.level"
        " AND origin.job_id = mutes.job_id AND origin.until = mutes.until"
        " AND origin.created_by = mutes.created_by)"
    )


def downgrade() -> None:
    with op.batch_alter_table("mutes") as batch:
        batch.drop_index("ix_mutes_lineage")
        batch.drop_column("lineage")
