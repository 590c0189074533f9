"""add pages.block_count NOT NULL, filled from the blocks

Revision ID: x2_page_block_count
Revises: x1_site_visits
"""

import sqlalchemy as sa
from alembic import op

revision = "x2_page_block_count"
down_revision = "x1_site_visits"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("pages") as batch:
        batch.add_column(sa.Column("block_count", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE pages SET block_count = "
        "(SELECT COUNT(*) FROM blocks WHERE blocks.page_id = pages.id)"
    )
    with op.batch_alter_table("pages") as batch:
        batch.alter_column("block_count", existing_type=sa.Integer(), nullable=False)
