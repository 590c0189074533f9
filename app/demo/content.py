"""Generated demo content: camp names, page texts and the JSON data of each block type.

Block data formats (what a real StinkyKitty editor stores; media by id):

- ``text``: ``{"html": "<h2>..</h2><p>..</p>"}``
- ``hero``: ``{"title", "subtitle", "media_id", "alt", "cta": {"label", "url"}}``
- ``gallery``: ``{"title", "layout", "images": [{"media_id", "caption"}, ...]}``
- ``video``: ``{"provider", "url", "caption", "poster_media_id", "autoplay"}``
- ``buttons``: ``{"align", "buttons": [{"label", "url", "style"}, ...]}``

``media_id`` / ``poster_media_id`` are ``MediaItem`` ids of the same site, or
null when the site has no images.
"""

import html

CAMP_NAMES = (
    "pinecrest",
    "lakeside",
    "birchwood",
    "cedar-ridge",
    "moose-lake",
    "eagle-rock",
    "willow-creek",
    "blue-heron",
    "foxhollow",
    "silver-pines",
    "otter-bay",
    "timberline",
)
TAGLINES = (
    "Summer adventures on the water since 1962",
    "Where every kid finds their trail",
    "Canoes, campfires and friends for life",
    "A week in the woods, a lifetime of stories",
    "Outdoor leadership for young explorers",
)
PAGE_TOPICS = (
    ("about", "About us"),
    ("activities", "Activities"),
    ("schedule", "Daily schedule"),
    ("registration", "Registration"),
    ("gallery", "Photo gallery"),
    ("staff", "Our staff"),
    ("faq", "Questions from parents"),
    ("directions", "Getting here"),
    ("packing-list", "What to pack"),
    ("contact", "Contact"),
)
NOUNS = tuple(
    (
        "canoe, campfire, cabin, trail, lake, counselor, camper, tent, archery range, "
        "dining hall, sunset, pine forest, dock, kayak, hike, songbook, lantern, meadow, "
        "creek, nature walk, talent show, craft hut"
    ).split(", ")
)
VERBS = tuple(
    (
        "explore, paddle along, gather around, build, discover, share, learn about, set up, "
        "clean up after, sing around, map out, celebrate"
    ).split(", ")
)
ADJECTIVES = tuple(
    (
        "quiet, sunny, misty, friendly, wild, cozy, bright, muddy, peaceful, busy, starry, breezy"
    ).split(", ")
)
OPENERS = tuple(
    (
        "Every morning, After lunch, On rainy days, Before the evening program, "
        "During the first week, On the last night, Twice a week, When the bell rings"
    ).split(", ")
)
PHOTO_SUBJECTS = tuple(
    (
        "lake-sunset, campfire, canoe-race, cabin-row, archery, morning-hike, dock-jump, "
        "craft-hut, dining-hall, talent-show, pine-trail, stargazing"
    ).split(", ")
)
TAGS = tuple(
    (
        "summer, lake, campfire, kids, staff, cabins, hiking, canoe, events, food, arts, "
        "sports, 2023, 2024, 2025"
    ).split(", ")
)
VIDEO_IDS = ("dQw4w9WgXcQ", "M7lc1UVf-VE", "aqz-KE-bpKQ", "ScMzIvxBSi4", "jNQXAC9IVRw")


def sentence(rng):
    """Return one plausible sentence about camp life."""
    return (
        f"{rng.choice(OPENERS)} our campers {rng.choice(VERBS)} the "
        f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} with a {rng.choice(NOUNS)} "
        f"and a {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}."
    )


def paragraph(rng, sentences=(2, 6)):
    """Return a few sentences."""
    return " ".join(sentence(rng) for _ in range(rng.randint(*sentences)))


def camp_name(index):
    """Return the subdomain of the ``index``-th demo site (0-based)."""
    base = CAMP_NAMES[index % len(CAMP_NAMES)]
    rounds = index // len(CAMP_NAMES)
    return base if rounds == 0 else f"{base}-{rounds + 1}"


def camp_title(subdomain):
    """Return a site title for a subdomain ("cedar-ridge" -> "Camp Cedar Ridge")."""
    return "Camp " + subdomain.replace("-", " ").title()


def page_topics(count):
    """Return ``count`` (slug, title) pairs: home, the usual pages, then news posts."""
    topics = [("home", "Welcome")]
    topics += list(PAGE_TOPICS[: max(0, count - 1)])
    for n in range(len(topics), count):
        topics.append((f"news-{n:04d}", f"Camp news #{n}"))
    return topics[:count]


def photo_name(rng, number):
    """Return a camera-like or descriptive original file name."""
    if rng.random() < 0.4:
        return f"IMG_{1000 + number:04d}.JPG"
    return f"{rng.choice(PHOTO_SUBJECTS)}-{number:03d}.jpg"


def media_tags(rng):
    """Return 1 to 3 distinct tags."""
    return sorted(rng.sample(TAGS, rng.randint(1, 3)))


def _pick(rng, ids):
    return rng.choice(ids) if ids else None


def text_block(rng, slugs):
    """Return the data of a text block with a heading, paragraphs and a link."""
    parts = [f"<h2>{html.escape(rng.choice(NOUNS).title())} time</h2>"]
    parts += [f"<p>{html.escape(paragraph(rng))}</p>" for _ in range(rng.randint(1, 4))]
    target = rng.choice(slugs)
    parts.append(
        f'<p>Read more on <a href="/{target}">our {target.replace("-", " ")} page</a>.</p>'
    )
    return {"html": "".join(parts)}


def hero_block(rng, title, media_ids):
    """Return the data of a hero banner over one image."""
    return {
        "title": title,
        "subtitle": rng.choice(TAGLINES),
        "media_id": _pick(rng, media_ids),
        "alt": f"{rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS)} at camp",
        "cta": {"label": "Register now", "url": "/registration"},
    }


def gallery_block(rng, media_ids):
    """Return the data of an image gallery (up to eight images)."""
    chosen = rng.sample(media_ids, min(len(media_ids), rng.randint(3, 8))) if media_ids else []
    return {
        "title": f"{rng.choice(ADJECTIVES).title()} days",
        "layout": rng.choice(("grid", "masonry", "carousel")),
        "images": [{"media_id": i, "caption": sentence(rng)} for i in chosen],
    }


def video_block(rng, media_ids):
    """Return the data of an embedded video."""
    video = rng.choice(VIDEO_IDS)
    youtube = rng.random() < 0.7
    return {
        "provider": "youtube" if youtube else "vimeo",
        "url": f"https://www.youtube.com/watch?v={video}"
        if youtube
        else f"https://vimeo.com/{rng.randrange(10**7, 10**9)}",
        "caption": sentence(rng),
        "poster_media_id": _pick(rng, media_ids),
        "autoplay": False,
    }


def buttons_block(rng, slugs):
    """Return the data of a row of call-to-action buttons."""
    targets = rng.sample(slugs, min(len(slugs), rng.randint(1, 3)))
    buttons = [
        {"label": t.replace("-", " ").title(), "url": f"/{t}", "style": "secondary"}
        for t in targets
    ]
    buttons[0]["style"] = "primary"
    return {"align": rng.choice(("left", "center")), "buttons": buttons}


def page_blocks(rng, title, count, slugs, media_ids, showcase=False):
    """Return ``count`` (type, data) pairs: a hero first, then a mix of the other types.

    With ``showcase`` the first five blocks are one of each type.
    """
    blocks = [("hero", hero_block(rng, title, media_ids))] if count else []
    makers = {
        "text": lambda: text_block(rng, slugs),
        "gallery": lambda: gallery_block(rng, media_ids),
        "video": lambda: video_block(rng, media_ids),
        "buttons": lambda: buttons_block(rng, slugs),
    }
    kinds = ("text", "text", "text", "gallery", "video", "buttons")
    queue = ["text", "gallery", "video", "buttons"] if showcase else []
    while len(blocks) < count:
        kind = queue.pop(0) if queue else rng.choice(kinds)
        blocks.append((kind, makers[kind]()))
    return blocks
