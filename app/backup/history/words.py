"""What a site's history says in words: what differs from now, and what a restore does.

The same sentences for ``flask site history``, the Site history page and its
preview; they name pages by slug and media by their file names, never by id.
"""

from app.backup.history.listing import has_changes

SHOWN = 3  # names a sentence lists before "and N more"


def describe_changes(changes: dict) -> str:
    """Return what differs from now in words: "the same as now", or "since then: ..."."""
    if not has_changes(changes):
        return "the same as now"
    said = []
    pages = changes["pages"]
    counted = [
        _counted(pages[what], "page", what, lambda p: p["slug"])
        for what in ("added", "removed", "changed")
        if pages[what]
    ]
    if counted:
        said.append(", ".join(counted))
    media = changes["media"]
    counts = [
        f"{len(media[what])} {what}" for what in ("added", "removed", "changed") if media[what]
    ]
    if counts:
        said.append("media " + ", ".join(counts))
    parts = [name for name in ("settings", "menu", "members") if changes[name]]
    if parts:
        said.append(" and ".join(f"the {name}" for name in parts) + " changed")
    return "since then: " + "; ".join(said)


def _counted(items: list, noun: str, verb: str, name) -> str:
    names = [name(item) for item in items[:SHOWN]]
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    plural = "s" if len(items) != 1 else ""
    return f"{len(items)} {noun}{plural} {verb} ({', '.join(names)}{more})"


def describe_restore(changes: dict) -> list[str]:
    """Return what restoring a version does to the site now, one sentence each (empty: nothing)."""
    pages, media = changes["pages"], changes["media"]
    said = []
    for items, sentence in (
        (pages["added"], "remove {n} page{s} added since ({names})"),
        (pages["removed"], "bring back {n} deleted page{s} ({names})"),
        (pages["changed"], "put back {n} page{s} as {they} {were} ({names})"),
    ):
        if items:
            said.append(_sentence(sentence, items, lambda p: p["slug"]))
    for items, sentence in (
        (media["added"], "remove {n} media file{s} added since ({names})"),
        (media["removed"], "bring back {n} deleted media file{s} ({names})"),
        (media["changed"], "put back the details of {n} media file{s} ({names})"),
    ):
        if items:
            said.append(_sentence(sentence, items, lambda m: m["name"]))
    parts = [name for name in ("settings", "menu", "members") if changes[name]]
    if parts:
        said.append("put back " + " and ".join(f"the {name}" for name in parts))
    return said


def _sentence(template: str, items: list, name) -> str:
    names = ", ".join(name(item) for item in items[:SHOWN])
    if len(items) > SHOWN:
        names += f" and {len(items) - SHOWN} more"
    one = len(items) == 1
    return template.format(
        n=len(items),
        s="" if one else "s",
        they="it" if one else "they",
        were="was" if one else "were",
        names=names,
    )
