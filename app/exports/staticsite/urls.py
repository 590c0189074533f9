"""The static URL builder: every link and media reference of the static copy, relative.

Every page file sits in ``site/`` beside ``index.html``, ``404.html`` and
``style.css``; the media stay where the export keeps them, in ``media/`` next
to ``site/``, and are referenced as ``../media/<stored name>``. Nothing is
absolute, so the folder works from ``file://``, under a sub-path and at a
domain root alike (``..`` at a root stays at the root: a copy of ``media/``
inside ``site/`` serves that case).
"""

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from app.exports.data import STORED_NAME

INDEX = "index.html"
NOT_FOUND = "404.html"
STYLESHEET = "style.css"
RESERVED = {INDEX, NOT_FOUND, STYLESHEET}
EXTERNAL_SCHEMES = {"http", "https", "mailto", "tel"}
# html5lib and browsers treat these alike: no scheme is read through them.
_STRIP = "".join(chr(c) for c in range(0x21)) + "\x7f"


@dataclass(frozen=True)
class MediaRef:
    """A media file of the export as a page refers to it."""

    href: str
    mime_type: str
    path: object  # where the bytes are now (to read an image's size)


def page_files(pages):
    """Return {slug: file name} for ``pages``, (id, slug) pairs in the order they are shown.

    A page's file is named from its slug (``about`` -> ``about.html``); a slug
    that is no safe file name, or whose name is taken, gets ``page-<id>.html``.
    """
    files, used = {}, set(RESERVED)
    for page_id, slug in pages:
        name = f"{slug}.html"
        if not STORED_NAME.fullmatch(name) or name in used:
            name = f"page-{page_id}.html"
            extra = 1
            while name in used:
                extra += 1
                name = f"page-{page_id}-{extra}.html"
        used.add(name)
        files[slug] = name
    return files


class StaticUrls:
    """Map the site's URLs (``/``, ``/about#staff``, ``https://...``) to links of the static copy.

    ``pages`` is {slug: file name} of the pages the copy holds, ``home`` the
    home page's slug (or None); ``media`` is {media id: MediaRef}.
    """

    def __init__(self, pages, home, media):
        self.pages = pages
        self.home = home
        self.media_refs = media

    def page(self, slug):
        """Return the file of the page ``slug`` (``404.html`` if the copy lacks it)."""
        if slug == self.home:
            return INDEX
        return self.pages.get(slug, NOT_FOUND)

    def link(self, url):
        """Return the href for ``url`` as written in a block or menu, or None if it is unsafe.

        Pages of the site become their files; http(s), mailto and tel links stay
        as they are; any other scheme (``javascript:``, ``data:``...) gives None.
        """
        if not isinstance(url, str):
            return None
        url = url.strip(_STRIP)
        if not url:
            return None
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        if scheme:
            return url if scheme in EXTERNAL_SCHEMES else None
        if parts.netloc:  # //host/path: another host, over https
            return "https:" + url
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        if not parts.path:
            return fragment or None
        slug = unquote(parts.path).strip("/")
        target = INDEX if slug in ("", "index.html") else self.page(slug)
        return target + fragment

    def asset(self, name):
        """Return the href of a file of the copy's own (the stylesheet)."""
        return name

    def media(self, media_id):
        """Return the MediaRef of media item ``media_id``, or None if the export has no file."""
        if isinstance(media_id, bool) or not isinstance(media_id, int):
            return None
        return self.media_refs.get(media_id)
