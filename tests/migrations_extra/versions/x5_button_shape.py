"""reshape buttons blocks: {"items": [...]} becomes {"buttons": [...], "version": 2}

Revision ID: x5_button_shape
Revises: x4_site_notes
"""

import sqlalchemy as sa
from alembic import op

revision = "x5_button_shape"
down_revision = "x4_site_notes"
branch_labels = None
depends_on = None

blocks = sa.table(
    "blocks", sa.column("id", sa.Integer()), sa.column("type"), sa.column("data", sa.JSON())
)


def upgrade():
    conn = op.get_bind()
    rows = conn.execute(sa.select(blocks.c.id, blocks.c.data).where(blocks.c.type == "buttons"))
    for block_id, data in rows.all():
        shaped = {k: v for k, v in data.items() if k != "items"}
        shaped.update(buttons=data.get("items", []), version=2)
        conn.execute(blocks.update().where(blocks.c.id == block_id).values(data=shaped))
