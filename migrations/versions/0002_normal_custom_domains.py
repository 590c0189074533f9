"""custom domains in normal form

Every site's custom domain becomes lower-case IDNA ASCII without a trailing
dot (what ``app.models.domains`` keeps since this revision), so that two
spellings of one name can no longer belong to two sites. Blank ones become
NULL. Two sites whose domains are one name once normalised, or a domain that
is no domain name at all, stop the migration with a message naming the sites:
nothing is changed, and an operator settles it by hand.

The normaliser is written out here, not imported: a migration must keep doing
what it did when it was written.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 15:40:00.000000

"""

import idna
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SITES = sa.table(
    "sites",
    sa.column("id", sa.Integer),
    sa.column("subdomain", sa.String),
    sa.column("custom_domain", sa.String),
)


def _normal(value):
    """Return the normal form of ``value`` (None when blank), or raise ValueError."""
    text = value.strip()
    if not text:
        return None
    encoded = idna.encode(text, uts46=True).decode("ascii")  # IDNAError is a ValueError
    if encoded.endswith("."):
        encoded = encoded[:-1]
    if not encoded or len(encoded) > 253:
        raise ValueError("empty or too long")
    return encoded


def upgrade():
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(SITES.c.id, SITES.c.subdomain, SITES.c.custom_domain)
        .where(SITES.c.custom_domain.is_not(None))
        .order_by(SITES.c.id)
    ).all()
    holders = {}
    changes = []
    for site_id, subdomain, domain in rows:
        try:
            normal = _normal(domain)
        except (UnicodeError, ValueError) as exc:
            raise RuntimeError(
                f"site {subdomain} (id {site_id}) has the custom domain {domain!r}, "
                f"which is not a domain name ({exc}): clear or correct it, then migrate"
            ) from None
        if normal is not None and normal in holders:
            other_id, other_subdomain, other_domain = holders[normal]
            raise RuntimeError(
                f"sites {other_subdomain} (id {other_id}, {other_domain!r}) and {subdomain} "
                f"(id {site_id}, {domain!r}) have the same custom domain {normal}: "
                "give one of them another domain (or none), then migrate"
            )
        if normal is not None:
            holders[normal] = (site_id, subdomain, domain)
        if normal != domain:
            changes.append((site_id, normal))
    # No new value is another row's old one: that row's normal form would have collided.
    for site_id, normal in changes:
        conn.execute(sa.update(SITES).where(SITES.c.id == site_id).values(custom_domain=normal))


def downgrade():
    """Nothing to undo: the normal form is a valid value of revision 0001."""
