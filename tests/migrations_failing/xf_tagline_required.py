"""make sites.tagline required (fails on any site without one)

Revision ID: xf_tagline_required
Revises: x5_button_shape
"""

import sqlalchemy as sa
from alembic import op

revision = "xf_tagline_required"
down_revision = "x5_button_shape"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sites") as batch:
        batch.alter_column("tagline", existing_type=sa.String(300), nullable=False)
