"""rename menu_items.url to href

Revision ID: x3_menu_href
Revises: x2_page_block_count
"""

import sqlalchemy as sa
from alembic import op

revision = "x3_menu_href"
down_revision = "x2_page_block_count"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("menu_items") as batch:
        batch.alter_column(
            "url", new_column_name="href", existing_type=sa.Text(), existing_nullable=False
        )
