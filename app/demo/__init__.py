"""The demo: users, sites, pages, menus and real image files, for trying and benchmarking.

``seed_demo(DemoPlan(...))`` builds it inside the current app context in one
transaction; if anything fails, the database is rolled back and the files it
wrote are removed. The same plan with the same seed gives the same content.
Small plans make a pleasant demo; large ones (hundreds of pages, a gigabyte of
media, 100k blocks) make benchmark corpora, so rows go in by bulk inserts and
images are cheap to generate yet as incompressible as real photos.
"""

import io
import random
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, insert, select

from app.demo import content, corpora
from app.errors import StinkyKittyError
from app.extensions import db
from app.media import add_media, media_path, uploads_dir
from app.models import Block, MediaTag, MenuItem, Page, Site, SiteUser, User, utcnow

__all__ = [
    "DEFAULT_PASSWORD",
    "MIB",
    "PRESETS",
    "DemoError",
    "DemoPlan",
    "DemoSummary",
    "demo_logins",
    "seed_corpus",
    "seed_demo",
]

PRESETS = tuple(corpora.PRESETS)

DEFAULT_PASSWORD = "stinkykitty"
ADMIN_EMAIL = "admin@example.org"
SITE_ADMIN_EMAIL = "siteadmin@example.org"
EDITOR_EMAIL = "editor@example.org"
MIB = 1024 * 1024
AVERAGE_PHOTO = 1 * MIB
SMALLEST_PHOTO = 20 * 1024
GRAPHIC_SIZE = (480, 360)
GRAPHIC_ESTIMATE = 12 * 1024  # bytes of one PNG graphic, kept out of the photo budget
BLOCK_BATCH = 2000
HISTORY_DAYS = 400  # content timestamps are spread over this many past days


class DemoError(StinkyKittyError):
    """The demo cannot be seeded as asked; the message says why and what to do."""


def owner_email(number):
    """Return the login of the owner of the ``number``-th demo site (1-based)."""
    return f"owner{number}@example.org"


@dataclass
class DemoPlan:
    """What to seed: counts, media volume, seed and the password of every demo login."""

    sites: int = 3
    pages: int = 6
    media_mb: float = 20.0
    blocks_per_page: int = 6
    seed: int = 1
    password: str = DEFAULT_PASSWORD

    def validate(self):
        """Raise DemoError when a number is out of range."""
        if self.sites < 1:
            raise DemoError(f"--sites must be at least 1 (got {self.sites})")
        if self.pages < 1:
            raise DemoError(f"--pages must be at least 1 (got {self.pages})")
        if self.blocks_per_page < 0:
            raise DemoError(f"--blocks-per-page cannot be negative (got {self.blocks_per_page})")
        if self.media_mb < 0:
            raise DemoError(f"--media-mb cannot be negative (got {self.media_mb})")
        if not self.password:
            raise DemoError("the demo password cannot be empty")


@dataclass
class DemoSummary:
    """What a seed made."""

    logins: list = field(default_factory=list)  # (email, what the login may do)
    sites: int = 0
    pages: int = 0
    blocks: int = 0
    menu_items: int = 0
    media: int = 0
    media_bytes: int = 0


def seed_demo(plan, progress=None):
    """Seed the demo of ``plan`` into an empty-of-demo database and return a DemoSummary.

    ``progress``, if given, is called with one line per site.
    """
    plan.validate()
    _refuse_existing(plan)
    rng = random.Random(plan.seed)
    summary = DemoSummary()
    written = []
    try:
        users = _make_users(plan)
        photo_sizes = _photo_budget(plan, rng)
        for index in range(plan.sites):
            site = _make_site(rng, index, users[owner_email(index + 1)])
            _add_members(site, index, users)
            media_count, media_ids, size = _make_media(rng, site, photo_sizes[index], written)
            pages, blocks = _make_pages(rng, site, plan, media_ids)
            menu = _make_menu(site, pages)
            summary.sites += 1
            summary.pages += pages
            summary.blocks += blocks
            summary.menu_items += menu
            summary.media += media_count
            summary.media_bytes += size
            if progress:
                progress(
                    f"site {site.subdomain}: {pages} pages, {blocks} blocks, "
                    f"{media_count} images ({size / MIB:.1f} MiB)"
                )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        for path in written:
            path.unlink(missing_ok=True)
        raise
    summary.logins = demo_logins(plan.password)
    return summary


def seed_corpus(preset, scale=1.0, seed=1, password=DEFAULT_PASSWORD, progress=None):
    """Seed the count-heavy corpus ``preset`` (see app/demo/corpora.py) at ``scale``.

    Return a DemoSummary. All or nothing, like ``seed_demo``.
    """
    if preset not in corpora.PRESETS:
        raise DemoError(f"no preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if not 0 < scale <= 100:
        raise DemoError(f"--scale must be above 0 and at most 100 (got {scale})")
    shape = corpora.PRESETS[preset]
    sites, files, blocks = shape.scaled(scale)
    plan = DemoPlan(sites=sites, pages=1, media_mb=0, seed=seed, password=password)
    plan.validate()
    _refuse_existing(plan)
    rng = random.Random(plan.seed)
    summary = DemoSummary()
    writer = corpora.FileWriter(rng, uploads_dir())
    try:
        users = _make_users(plan)
        pairs = corpora.pairs_per_site(files // 2, sites)
        blocks_per_site = [blocks // sites + (n < blocks % sites) for n in range(sites)]
        for index in range(sites):
            site = _make_site(rng, index, users[owner_email(index + 1)])
            _add_members(site, index, users)
            sizes = corpora.file_sizes(rng, pairs[index])
            media_ids, size = corpora.insert_media(site, sizes, writer, _past(rng))
            pages, made = corpora.insert_pages(
                rng, site, blocks_per_site[index], shape.blocks_per_page, media_ids, _past
            )
            summary.sites += 1
            summary.pages += pages
            summary.blocks += made
            summary.menu_items += _make_menu(site, min(pages, 5))
            summary.media += 2 * len(sizes)
            summary.media_bytes += size
            if progress:
                progress(
                    f"site {site.subdomain}: {pages} pages, {made} blocks, "
                    f"{2 * len(sizes)} files ({size / MIB:.1f} MiB)"
                )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        for path in writer.written:
            path.unlink(missing_ok=True)
        raise
    summary.logins = demo_logins(plan.password)
    return summary


def _refuse_existing(plan):
    emails = [ADMIN_EMAIL, SITE_ADMIN_EMAIL, EDITOR_EMAIL]
    emails += [owner_email(n + 1) for n in range(plan.sites)]
    taken = db.session.scalar(select(User.email).where(func.lower(User.email).in_(emails)))
    if taken is None:
        subdomains = [content.camp_name(n) for n in range(plan.sites)]
        taken = db.session.scalar(select(Site.subdomain).where(Site.subdomain.in_(subdomains)))
    if taken is not None:
        raise DemoError(
            f"demo data is already there ({taken} exists); seed into an empty database, "
            "e.g. with another STINKY_DATA_DIR or DATABASE_URL"
        )


def _make_users(plan):
    """Create the global admin, one owner per site, a site admin and an editor."""
    emails = {ADMIN_EMAIL: True}
    emails.update({owner_email(n + 1): False for n in range(plan.sites)})
    emails.update({SITE_ADMIN_EMAIL: False, EDITOR_EMAIL: False})
    # Hash once: every demo login shares the password, and hashing is slow on purpose.
    probe = User(email="probe")
    probe.set_password(plan.password)
    users = {}
    for email, admin in emails.items():
        users[email] = User(email=email, is_global_admin=admin, password_hash=probe.password_hash)
        db.session.add(users[email])
    db.session.flush()
    return users


def _past(rng):
    return utcnow() - timedelta(days=rng.uniform(1, HISTORY_DAYS))


def _make_site(rng, index, owner):
    subdomain = content.camp_name(index)
    site = Site(
        subdomain=subdomain,
        custom_domain=f"www.{subdomain}.example.org" if index % 3 == 0 else None,
        owner_id=owner.id,
        title=content.camp_title(subdomain),
        tagline=rng.choice(content.TAGLINES),
        theme={
            "color": rng.choice(("#2f6b3a", "#1f4e79", "#8a3b12", "#5b3a8a", "#0f6e6e")),
            "font": rng.choice(("Merriweather", "Open Sans", "Lora", "Source Sans 3")),
            "layout": rng.choice(("wide", "boxed")),
        },
        created_at=_past(rng),
    )
    db.session.add(site)
    db.session.flush()
    db.session.add(SiteUser(user_id=owner.id, site_id=site.id, role="owner"))
    return site


def _add_members(site, index, users):
    """Give the first site a site admin and an editor; the editor edits the second one too."""
    roles = []
    if index == 0:
        roles = [(SITE_ADMIN_EMAIL, "admin"), (EDITOR_EMAIL, "editor")]
    elif index == 1:
        roles = [(EDITOR_EMAIL, "editor")]
    for email, role in roles:
        db.session.add(SiteUser(user_id=users[email].id, site_id=site.id, role=role))


def _photo_budget(plan, rng):
    """Return, per site, the byte sizes of its photos, adding up to about ``media_mb``."""
    total = plan.media_mb * MIB - plan.sites * GRAPHIC_ESTIMATE
    if plan.media_mb == 0 or total <= 0:
        return [[] for _ in range(plan.sites)]
    count = max(plan.sites * 3, round(total / AVERAGE_PHOTO))
    weights = [rng.lognormvariate(0, 0.6) for _ in range(count)]
    scale = total / sum(weights)
    sizes = [max(SMALLEST_PHOTO, round(w * scale)) for w in weights]
    return [sizes[i :: plan.sites] for i in range(plan.sites)]


def _make_media(rng, site, photo_sizes, written):
    """Store a site map graphic and the photos; return (count, photo ids, total bytes)."""
    from app.demo import images  # here: it imports Pillow, which only seeding needs

    if not photo_sizes:
        return 0, [], 0
    site_map = images.graphic(rng, GRAPHIC_SIZE, f"{site.title} site map")
    graphic = _store(rng, site, "site-map.png", site_map, written)
    photos = []
    for number, target in enumerate(photo_sizes, start=1):
        image = images.photo(rng, images.photo_size_for(target, rng))
        photos.append(_store(rng, site, content.photo_name(rng, number), image, written))
    db.session.flush()
    return 1 + len(photos), [p.id for p in photos], graphic.size + sum(p.size for p in photos)


def _store(rng, site, name, image, written):
    """Add one generated image as a tagged media item of ``site``."""
    item = add_media(
        site,
        io.BytesIO(image.data),
        name,
        image.mime_type,
        uploaded_by=site.owner,
        preview=image.preview,
    )
    written.append(media_path(item))
    item.created_at = item.updated_at = _past(rng)
    item.tags = [MediaTag(tag=t) for t in content.media_tags(rng)]
    return item


def _make_pages(rng, site, plan, media_ids):
    """Create the pages and bulk-insert their blocks; return (pages, blocks)."""
    topics = content.page_topics(plan.pages)
    slugs = [slug for slug, _ in topics]
    pages = []
    for slug, title in topics:
        created = _past(rng)
        page = Page(
            site_id=site.id,
            slug=slug,
            title=title,
            published=slug == "home" or rng.random() < 0.85,
            created_at=created,
            updated_at=created,
        )
        db.session.add(page)
        pages.append(page)
    db.session.flush()
    rows, blocks = [], 0
    for page in pages:
        made = content.page_blocks(
            rng, page.title, plan.blocks_per_page, slugs, media_ids, showcase=page.slug == "home"
        )
        for position, (kind, data) in enumerate(made):
            rows.append(
                {
                    "page_id": page.id,
                    "type": kind,
                    "position": position,
                    "data": data,
                    "created_at": page.created_at,
                    "updated_at": page.updated_at,
                }
            )
        if len(rows) >= BLOCK_BATCH:
            blocks += _insert_blocks(rows)
            rows = []
    blocks += _insert_blocks(rows)
    return len(pages), blocks


def _insert_blocks(rows):
    if rows:
        db.session.execute(insert(Block), rows)
    return len(rows)


def _make_menu(site, page_count):
    """Create a menu: home, up to four pages and an external link."""
    topics = content.page_topics(page_count)
    entries = [("Home", "/")] + [(title, f"/{slug}") for slug, title in topics[1:5]]
    entries.append(("Find us on the map", f"https://maps.example.org/?q={site.subdomain}"))
    for position, (label, url) in enumerate(entries):
        db.session.add(MenuItem(site_id=site.id, label=label, url=url, position=position))
    return len(entries)


def demo_logins(password):
    """Return (email, description) of the demo users that exist and take ``password``."""
    demo = [ADMIN_EMAIL, SITE_ADMIN_EMAIL, EDITOR_EMAIL]
    users = db.session.scalars(
        select(User)
        .where(User.email.in_(demo) | User.email.like("owner%@example.org"))
        .order_by(User.id)
    ).all()
    matches = {}  # password hash -> does it match; the demo users share one hash
    logins = []
    for user in users:
        if user.password_hash not in matches:
            matches[user.password_hash] = user.check_password(password)
        if matches[user.password_hash]:
            logins.append((user.email, describe_user(user)))
    return logins


def describe_user(user):
    """Return what ``user`` may do, in a few words ("owner of pinecrest")."""
    if user.is_global_admin:
        return "global admin (every site)"
    rows = db.session.execute(
        select(SiteUser.role, Site.subdomain)
        .join(Site, Site.id == SiteUser.site_id)
        .where(SiteUser.user_id == user.id)
        .order_by(Site.subdomain)
    ).all()
    by_role = {}
    for role, subdomain in rows:
        by_role.setdefault(role, []).append(subdomain)
    if not by_role:
        return "no site"
    words = "; ".join(f"{role} of {', '.join(subs)}" for role, subs in sorted(by_role.items()))
    return words + (" (edits only, manages no site)" if set(by_role) == {"editor"} else "")
