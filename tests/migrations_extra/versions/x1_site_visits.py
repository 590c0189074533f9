"""add sites.visits with a server default

Revision ID: x1_site_visits
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "x1_site_visits"
down_revision = "0002"  # our head when written; a later real migration moves this on top of it
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("visits", sa.Integer(), nullable=False, server_default="0"))
