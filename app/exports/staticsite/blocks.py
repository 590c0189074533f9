"""What each block type shows, prepared for its partial in ``app/templates/public/blocks/``.

Block ``data`` is whatever the editor (or an imported export) stored, so
every field is checked here and a field of the wrong type is left out rather
than failing the export. The partials then only lay out plain values; text
HTML is sanitised (``nh3``) and every link and media reference goes through
the URL builder (``urls.StaticUrls``).
"""

import re
from functools import lru_cache

import nh3
from markupsafe import Markup

# Text blocks keep their formatting, not embedded content: images, image maps
# and the like come from hero and gallery blocks, where they are local files.
TEXT_TAGS = nh3.ALLOWED_TAGS - {"img", "map", "area"}
TEXT_ATTRIBUTES = {k: v for k, v in nh3.ALLOWED_ATTRIBUTES.items() if k in TEXT_TAGS}
BUTTON_STYLES = ("primary", "secondary")
ALIGNS = ("left", "center", "right")
GALLERY_LAYOUTS = ("grid", "masonry", "carousel")
VIDEO_PROVIDERS = {"youtube": "YouTube", "vimeo": "Vimeo"}
# Code points HTML does not allow in a document (controls, noncharacters, lone surrogates).
_NONCHARACTERS = "".join(f"{chr(p + 0xFFFE)}{chr(p + 0xFFFF)}" for p in range(0, 0x110000, 0x10000))
NOT_IN_HTML = re.compile(
    f"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufdd0-\ufdef\ud800-\udfff{_NONCHARACTERS}]"
)


def printable(value):
    """Return ``value`` without the code points HTML forbids (other values as they are)."""
    if not isinstance(value, str) or (value.isascii() and value.isprintable()):
        return value
    return NOT_IN_HTML.sub("", value)


def printable_output(value):
    """Filter what a template writes (Jinja's ``finalize``) through ``printable``.

    Markup is what the templates made of filtered values, or sanitised text
    (filtered by ``sanitize_html``): it passes as it is.
    """
    return value if isinstance(value, Markup) else printable(value)


def _text(value):
    """Return ``value`` if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value.strip() else None


@lru_cache(maxsize=1)
def _cleaner(urls):
    """Return the text sanitiser of one static copy (built once: building costs more than a use)."""

    def keep(element, attribute, value):
        if attribute in ("href", "cite"):
            return urls.link(value)
        return value

    return nh3.Cleaner(
        tags=TEXT_TAGS,
        attributes=TEXT_ATTRIBUTES,
        attribute_filter=keep,
        clean_content_tags={"script", "style"},
        url_schemes={"http", "https", "mailto", "tel"},
    )


def sanitize_html(html, urls):
    """Return the text block HTML ``html`` made safe, its links rewritten for the static copy."""
    return Markup(printable(_cleaner(urls).clean(printable(html))))


def _image(urls, media_id, alt, image_size):
    """Return {href, alt, width, height} of an image media item, or None."""
    ref = urls.media(media_id)
    if ref is None or not ref.mime_type.startswith("image/"):
        return None
    width, height = image_size(ref)
    return {"href": ref.href, "alt": alt or "", "width": width, "height": height}


def _link(urls, item, label_key="label"):
    """Return {label, href} of a {label, url} object, or None."""
    if not isinstance(item, dict) or not _text(item.get(label_key)):
        return None
    return {"label": item[label_key], "href": urls.link(item.get("url"))}


def _text_view(data, urls, image_size):
    html = data.get("html")
    return {"html": sanitize_html(html, urls) if isinstance(html, str) else ""}


def _hero_view(data, urls, image_size):
    return {
        "title": _text(data.get("title")),
        "subtitle": _text(data.get("subtitle")),
        "image": _image(urls, data.get("media_id"), _text(data.get("alt")), image_size),
        "cta": _link(urls, data.get("cta")),
    }


def _gallery_view(data, urls, image_size):
    images = []
    for item in data.get("images") if isinstance(data.get("images"), list) else ():
        if not isinstance(item, dict):
            continue
        caption = _text(item.get("caption"))
        alt = _text(item.get("alt")) or caption
        image = _image(urls, item.get("media_id"), alt, image_size)
        if image:
            images.append({**image, "caption": caption})
    layout = data.get("layout")
    return {
        "title": _text(data.get("title")),
        "layout": layout if layout in GALLERY_LAYOUTS else "grid",
        "images": images,
    }


def _video_view(data, urls, image_size):
    caption = _text(data.get("caption"))
    file = urls.media(data.get("media_id"))
    if file is not None and not file.mime_type.startswith("video/"):
        file = None
    poster = _image(urls, data.get("poster_media_id"), caption, image_size)
    href = urls.link(data.get("url"))
    provider = data.get("provider")
    return {
        "file": {"href": file.href, "type": file.mime_type} if file else None,
        "poster": poster,
        "href": href,
        "provider": VIDEO_PROVIDERS.get(provider, provider if _text(provider) else None),
        "caption": caption,
    }


def _buttons_view(data, urls, image_size):
    buttons = []
    for item in data.get("buttons") if isinstance(data.get("buttons"), list) else ():
        link = _link(urls, item)
        if link:
            style = item.get("style")
            buttons.append({**link, "style": style if style in BUTTON_STYLES else "secondary"})
    align = data.get("align")
    return {"align": align if align in ALIGNS else "left", "buttons": buttons}


VIEWS = {
    "text": _text_view,
    "hero": _hero_view,
    "gallery": _gallery_view,
    "video": _video_view,
    "buttons": _buttons_view,
}


def block_view(block_type, data, urls, image_size):
    """Return (block type, values for its partial), or None for a type the copy does not show."""
    view = VIEWS.get(block_type)
    if view is None or not isinstance(data, dict):
        return None
    return block_type, view(data, urls, image_size)
