"""add the site_notes table, one note per existing site

Revision ID: x4_site_notes
Revises: x3_menu_href
"""

import sqlalchemy as sa
from alembic import op

revision = "x4_site_notes"
down_revision = "x3_menu_href"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "site_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_site_notes_site_id_sites", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_site_notes"),
    )
    op.execute("INSERT INTO site_notes (site_id, body) SELECT id, title FROM sites ORDER BY id")
