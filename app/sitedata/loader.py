"""The site loader: write one site's rows (``app.sitedata.rows``) into the live database.

Everything happens in ONE transaction: the site's old pages, blocks, menu,
media and tags (and memberships, when the data brings its own) are deleted,
the new ones inserted, every media reference inside block JSON rewritten to
the ids the media got, and the media files placed into ``uploads/<site id>/``
before the commit. The files of the rows it replaced are deleted only after the
commit, and no other file (``app.sitedata.files``). A failure (or a crash:
the database rolls back by itself) leaves the site as it was, at worst with a
few unreferenced new files in its folder, which the next load of the site
removes. No row or file of any other site is read for writing, let alone changed.

With ``keep_ids`` (a restore from a system backup) rows keep their ids where
no other site has taken them since, and get new ones where one has.
"""

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import sqlalchemy as sa

from app.config import data_path
from app.errors import REFUSED, ExportError
from app.models import (
    Block,
    MediaItem,
    MediaTag,
    MenuItem,
    Page,
    Site,
    SiteUser,
    User,
    normal_domain,
    utcnow,
)
from app.sitedata.files import SiteFiles, delete_site_media
from app.sitedata.ids import CHUNK, fix_id_counter, insert_rows
from app.sitedata.rows import SUBDOMAIN, check_site_rows, rewrite_media_references
from app.sitedata.summary import LoadSummary, LoadSummaryDict

log = logging.getLogger(__name__)

SITES, PAGES, BLOCKS, MENU = Site.__table__, Page.__table__, Block.__table__, MenuItem.__table__
MEDIA, TAGS, MEMBERS = MediaItem.__table__, MediaTag.__table__, SiteUser.__table__


class SiteLoadRefused(ExportError):
    """The site cannot be loaded as asked (subdomain taken, no owner...); nothing was changed."""

    exit_code = REFUSED


def load_site(
    config,
    engine,
    rows,
    *,
    replace_site_id=None,
    subdomain=None,
    owner_email=None,
    keep_ids=False,
    before_commit=None,
    after_commit=None,
    site_users_only=False,
    prepare=None,
):
    """Write ``rows`` as a new site, or over site ``replace_site_id``; return a LoadSummary.

    A new site takes ``subdomain`` (default: the data's), which must be free, and
    its owner is ``owner_email`` or the data's owner. Raises InvalidSiteData or
    SiteLoadRefused before anything changes; any other failure rolls back.
    ``before_commit()`` runs last inside the transaction, ``after_commit()``
    first after it, before any file is removed (tests stop there);
    ``prepare(conn)`` runs first, once the site's row is locked and before any
    read (it sees the site as the load replaces it: see ``app.exports.undo``).
    With ``site_users_only`` (an owner's restore) the data's emails are matched
    only with the users the site already shows, its owner and members (the
    emails its export names), so the summary tells nothing of other accounts.
    """
    started = time.monotonic()
    check_site_rows(rows, engine.dialect.name, dangling=keep_ids)
    folder_root = data_path(config, "uploads")
    load = _Load(rows, keep_ids, replace_site_id if site_users_only else None)
    with engine.connect() as conn:
        try:
            with conn.begin():
                load.run(conn, replace_site_id, subdomain, owner_email, folder_root, prepare)
                if before_commit is not None:
                    before_commit()
        except BaseException:
            if load.files is not None:
                load.files.rolled_back()
            raise
    if after_commit is not None:
        after_commit()
    load.files.committed()
    load.summary.duration = time.monotonic() - started
    log.info(
        "loaded site %s (id %s): %s",
        load.summary.subdomain,
        load.summary.site_id,
        load.summary.counts,
    )
    return load.summary


class SiteLoad(Protocol):
    """``load(rows, site_id, prepare=None)``: write a site's rows over site ``site_id``."""

    def __call__(
        self, rows: Any, site_id: int | None, prepare: Callable[[Any], None] | None = None
    ) -> LoadSummaryDict: ...


def site_loader(config: Any, engine: Any) -> SiteLoad:
    """Return the load of a site from a system backup: over ``site_id``, keeping its ids."""

    def load(
        rows: Any, site_id: int | None, prepare: Callable[[Any], None] | None = None
    ) -> LoadSummaryDict:
        return load_site(
            config, engine, rows, replace_site_id=site_id, keep_ids=True, prepare=prepare
        ).to_dict()

    return load


class _Load:
    """One load: its id mapping, and its media files (the ones it places and replaces)."""

    def __init__(self, rows, keep_ids, users_of_site=None):
        self.rows, self.keep_ids, self.users_of_site = rows, keep_ids, users_of_site
        self.replaced_files, self.files = set(), None
        self.summary = None
        self.notes = []

    def run(self, conn, replace_site_id, subdomain, owner_email, folder_root, prepare=None):
        # A write first: it takes SQLite's write lock and the site's row lock elsewhere.
        locked = conn.execute(
            sa.update(SITES)
            .where(SITES.c.id == (replace_site_id or -1))
            .values(subdomain=SITES.c.subdomain, updated_at=SITES.c.updated_at)
        )
        if replace_site_id is not None and locked.rowcount != 1:
            raise SiteLoadRefused(f"there is no site with id {replace_site_id} (any more)")
        if prepare is not None:
            prepare(conn)
        self.users = self._users(conn, owner_email)
        site = self.rows["site"]
        if replace_site_id is None:
            site_id, name = self._create_site(conn, subdomain or site["subdomain"], owner_email)
        else:
            site_id, name = self._replace_site(conn, replace_site_id)
        self.summary = LoadSummary(site_id=site_id, subdomain=name, created=replace_site_id is None)
        self.summary.notes += self.notes
        self.files = SiteFiles(folder_root / str(site_id), self.replaced_files)
        self.files.find_leftovers()
        if self.rows["members"] is not None:
            self._members(conn, site_id)
        media_map = self._media(conn, site_id)
        self._pages(conn, site_id, media_map)
        self._insert(
            conn,
            MENU,
            [
                {
                    "id": m["id"],
                    "site_id": site_id,
                    "label": m["label"],
                    "url": m["url"],
                    "position": m["position"],
                }
                for m in self.rows["menu"]
            ],
        )
        self.summary.counts = {
            "pages": len(self.rows["pages"]),
            "blocks": sum(len(p["blocks"]) for p in self.rows["pages"]),
            "menu_items": len(self.rows["menu"]),
            "media": len(self.rows["media"]),
            "media_files": sum(1 for m in self.rows["media"] if m["source"] is not None),
        }

    # --- users and the site row ---------------------------------------------------------

    def _users(self, conn, owner_email):
        """Return {lowercased email: user id} of the users the data names that exist."""
        rows = self.rows
        emails = {rows["site"].get("owner"), owner_email}
        emails |= {m["uploaded_by"] for m in rows["media"]}
        emails |= {m["email"] for m in rows["members"] or ()}
        wanted = sorted({e.lower() for e in emails if e})
        shown = sa.true()
        if self.users_of_site is not None:  # only the site's owner and members
            site = self.users_of_site
            members = sa.select(MEMBERS.c.user_id).where(MEMBERS.c.site_id == site)
            owner = sa.select(SITES.c.owner_id).where(SITES.c.id == site).scalar_subquery()
            shown = User.id.in_(members) | (User.id == owner)
        found = {}
        for start in range(0, len(wanted), CHUNK):
            part = wanted[start : start + CHUNK]
            found.update(
                (email.lower(), uid)
                for uid, email in conn.execute(
                    sa.select(User.id, User.email).where(sa.func.lower(User.email).in_(part), shown)
                )
            )
        return found

    def _user(self, email):
        return self.users.get(email.lower()) if email else None

    def _site_values(self):
        site = self.rows["site"]
        return {
            "title": site["title"],
            "tagline": site["tagline"],
            "theme": site["theme"],
            "created_at": site["created_at"] or utcnow(),
            "updated_at": site["updated_at"] or utcnow(),
        }

    def _custom_domain(self, conn, site_id):
        # Stored domains are in normal form (app.models.domains): so is the one compared.
        wanted = normal_domain(self.rows["site"]["custom_domain"])
        if wanted is None:
            return None
        owner = conn.scalar(sa.select(SITES.c.id).where(SITES.c.custom_domain == wanted))
        if owner is not None and owner != site_id:
            self.notes.append(f"custom domain {wanted} belongs to another site: left out")
            return None
        return wanted

    def _create_site(self, conn, subdomain, owner_email):
        if not SUBDOMAIN.match(subdomain):
            raise SiteLoadRefused(f"invalid subdomain {subdomain!r}: use a-z, 0-9 and dashes")
        taken = conn.scalar(sa.select(SITES.c.id).where(SITES.c.subdomain == subdomain))
        if taken is not None:
            raise SiteLoadRefused(f"the subdomain {subdomain!r} is taken by another site")
        if owner_email and self._user(owner_email) is None:
            raise SiteLoadRefused(f"there is no user {owner_email} to own the site")
        owner_id = self._user(owner_email) or self._user(self.rows["site"].get("owner"))
        if owner_id is None:
            who = owner_email or self.rows["site"].get("owner") or "nobody"
            raise SiteLoadRefused(
                f"the site's owner ({who}) is not a user here: name an owner (--owner EMAIL)"
            )
        values = {"subdomain": subdomain, "owner_id": owner_id, **self._site_values()}
        values["custom_domain"] = self._custom_domain(conn, None)
        wanted = self.rows["site"]["id"] if self.keep_ids else None
        if wanted is not None and conn.scalar(sa.select(SITES.c.id).where(SITES.c.id == wanted)):
            wanted = None
        if wanted is not None:
            conn.execute(sa.insert(SITES).values(id=wanted, **values))
            fix_id_counter(conn, SITES)
            site_id = wanted
        else:
            site_id = conn.execute(sa.insert(SITES).values(**values)).inserted_primary_key[0]
        if self.rows["members"] is None:
            conn.execute(sa.insert(MEMBERS).values(user_id=owner_id, site_id=site_id, role="owner"))
        self.owner_id = owner_id
        return site_id, subdomain

    def _replace_site(self, conn, site_id):
        current = conn.execute(sa.select(SITES).where(SITES.c.id == site_id)).mappings().one()
        owner_id = self._user(self.rows["site"].get("owner"))
        if owner_id is None:
            owner_id = current["owner_id"]
        values = {"owner_id": owner_id, **self._site_values()}
        values["custom_domain"] = self._custom_domain(conn, site_id)
        media_ids = sa.select(MEDIA.c.id).where(MEDIA.c.site_id == site_id)
        page_ids = sa.select(PAGES.c.id).where(PAGES.c.site_id == site_id)
        conn.execute(sa.delete(TAGS).where(TAGS.c.media_id.in_(media_ids)))
        conn.execute(sa.delete(BLOCKS).where(BLOCKS.c.page_id.in_(page_ids)))
        conn.execute(sa.delete(PAGES).where(PAGES.c.site_id == site_id))
        conn.execute(sa.delete(MENU).where(MENU.c.site_id == site_id))
        self.replaced_files = delete_site_media(conn, site_id)
        if self.rows["members"] is not None:
            conn.execute(sa.delete(MEMBERS).where(MEMBERS.c.site_id == site_id))
        conn.execute(sa.update(SITES).where(SITES.c.id == site_id).values(**values))
        self.owner_id = owner_id
        return site_id, current["subdomain"]

    # --- content ------------------------------------------------------------------------

    def _members(self, conn, site_id):
        rows, has_owner = [], False
        for member in self.rows["members"]:
            user_id = self._user(member["email"])
            if user_id is None:
                self.summary.dropped_members.append(member["email"])
                continue
            has_owner |= user_id == self.owner_id
            rows.append(
                {
                    "id": member["id"],
                    "user_id": user_id,
                    "site_id": site_id,
                    "role": member["role"],
                    "created_at": member["created_at"],
                }
            )
        if not has_owner:
            rows.append(
                {
                    "id": None,
                    "user_id": self.owner_id,
                    "site_id": site_id,
                    "role": "owner",
                    "created_at": None,
                }
            )
        self._insert(conn, MEMBERS, rows)

    def _media(self, conn, site_id):
        rows, tags = [], []
        for item in self.rows["media"]:
            uploader = self._user(item["uploaded_by"])
            if item["uploaded_by"] and uploader is None:
                self.summary.uploaders_cleared += 1
            name = self.files.place(item["stored_name"], item["source"])
            rows.append(
                {
                    "id": item["id"],
                    "site_id": site_id,
                    "stored_name": name,
                    "original_name": item["original_name"],
                    "size": item["size"],
                    "mime_type": item["mime_type"],
                    "preview": item["preview"],
                    "uploaded_by_id": uploader,
                    "created_at": item["created_at"],
                    "updated_at": item["updated_at"],
                }
            )
        mapping = self._insert(conn, MEDIA, rows)
        for item in self.rows["media"]:
            tags += [
                {"id": t["id"], "media_id": mapping[item["id"]], "tag": t["tag"]}
                for t in item["tags"]
            ]
        self._insert(conn, TAGS, tags)
        return mapping

    def _pages(self, conn, site_id, media_map):
        pages = self.rows["pages"]
        mapping = self._insert(
            conn,
            PAGES,
            [
                {
                    "id": p["id"],
                    "site_id": site_id,
                    "slug": p["slug"],
                    "title": p["title"],
                    "published": p["published"],
                    "created_at": p["created_at"],
                    "updated_at": p["updated_at"],
                }
                for p in pages
            ],
        )
        blocks = [
            {
                "id": b["id"],
                "page_id": mapping[p["id"]],
                "type": b["type"],
                "position": b["position"],
                "data": rewrite_media_references(b["data"], media_map),
                "created_at": b["created_at"],
                "updated_at": b["updated_at"],
            }
            for p in pages
            for b in p["blocks"]
        ]
        self._insert(conn, BLOCKS, blocks)

    def _insert(self, conn, table, rows):
        """Insert ``rows``; return {id in the data: id in the database} (see siteids)."""
        mapping, renumbered = insert_rows(conn, table, rows, keep_ids=self.keep_ids)
        if renumbered:
            self.summary.remapped[table.name] = renumbered
        return mapping
