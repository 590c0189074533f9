"""Custom domains have one normal form wherever they are stored, compared or imported.

Lower case, no trailing dot, IDNA (``xn--``) ASCII: two spellings of one name
are one domain, so no site can hold a variant of another site's domain, by
import, an owner's restore, the CLI or the model.
"""

import idna
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.errors import REFUSED
from app.extensions import db
from app.models import Site
from app.models.domains import MAX_LENGTH, InvalidDomain, normal_domain
from app.sitedata.loader import load_site
from app.sitedata.rows import InvalidSiteData
from tests.backupkit import database_state

LABEL_TEXT = "abcdefghijklmnopqrstuvwxyz0123456789"
LABELS = st.text(LABEL_TEXT, min_size=1, max_size=12)
UNICODE_LABELS = st.sampled_from(["bücher", "例え", "テスト", "straße", "ἀθήνα", "münchen", "café"])
DOMAINS = st.lists(st.one_of(LABELS, UNICODE_LABELS), min_size=1, max_size=4).map(".".join)
# Anything a hostile export or a typo could hold: control and format characters,
# surrogates, dots of other scripts, dashes in odd places, overlong labels.
HOSTILE = st.one_of(
    st.text(max_size=30),
    st.text(st.sampled_from("aZ.-_ \u3002\uff0e\u200d\u202e\x00\ud800\xdf-"), max_size=20),
    st.builds(lambda n: "a" * n + ".org", st.integers(60, 70)),
    st.builds(lambda n: ".".join(["abcdefghi"] * n), st.integers(24, 27)),
    st.sampled_from(["xn--zz.org", "-a.org", "a-.org", "a..org", "org..", ".", "xn--.org"]),
)
FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def spellings(draw, domain):
    """Draw another spelling of ``domain``: case, a trailing dot, U-labels or A-labels, spaces."""
    as_unicode = draw(st.booleans())
    labels = [
        idna.decode(label) if as_unicode and label.startswith("xn--") else label
        for label in idna.encode(domain, uts46=True).decode().split(".")
    ]
    text = ".".join(labels)
    upper = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    text = "".join(_upper(c) if up else c for c, up in zip(text, upper, strict=True))
    if draw(st.booleans()):
        text += "."
    if draw(st.booleans()):
        text = "  " + text + " "
    return text


def _upper(char):
    """Upper-case ``char`` where that spells the same name (not ß: "SS" is another name)."""
    up = char.upper()
    return up if len(up) == 1 and up.lower() == char else char


@st.composite
def variants(draw):
    domain = draw(DOMAINS)
    return domain, spellings(draw, domain)


def is_normal(text):
    return (
        text == text.lower()
        and not text.endswith(".")
        and len(text) <= MAX_LENGTH
        and text.isascii()
        and all(0 < len(label) <= 63 for label in text.split("."))
        and set(text) <= set(LABEL_TEXT + ".-")
    )


@settings(max_examples=400, deadline=None)
@given(st.one_of(HOSTILE, DOMAINS, variants().map(lambda pair: pair[1])))
@example("Camp.Example.ORG.")
@example("\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25\u3002org")  # full-width, ideographic dot
@example("\ud800.org")
def test_the_normal_form_is_normal_and_stable_or_the_text_is_refused(text):
    try:
        normal = normal_domain(text)
    except InvalidDomain as exc:
        refusal = str(exc)
    else:
        refusal = None
    if refusal is not None:
        assert "\n" not in refusal
        return
    if normal is None:
        assert text.strip() == ""
        return
    assert is_normal(normal)
    assert normal_domain(normal) == normal
    assert normal_domain(normal + ".") == normal
    assert normal_domain(normal.upper()) == normal


@settings(max_examples=300, deadline=None)
@given(variants())
def test_every_spelling_of_a_domain_has_its_normal_form(pair):
    domain, spelling = pair
    assert normal_domain(spelling) == normal_domain(domain)


def test_the_model_keeps_the_normal_form_and_refuses_a_non_domain(app, make):
    site = make.site(custom_domain="WWW.Bücher.Example.")
    assert site.custom_domain == "www.xn--bcher-kva.example"
    with pytest.raises(InvalidDomain, match="not a valid domain name"):
        site.custom_domain = "no spaces.example"
    site.custom_domain = "  "
    assert site.custom_domain is None


def _rows(subdomain, domain):
    return {
        "site": {
            "id": None,
            "subdomain": subdomain,
            "custom_domain": domain,
            "title": subdomain,
            "tagline": None,
            "theme": {},
            "created_at": None,
            "updated_at": None,
            "owner": "owner@example.org",
        },
        "members": None,
        "pages": [],
        "menu": [],
        "media": [],
    }


def _domains():
    db.session.remove()
    return {s.subdomain: s.custom_domain for s in db.session.scalars(db.select(Site))}


_names = iter(range(10**6))


@st.composite
def import_cases(draw):
    """A domain one site holds (any spelling), and what an import brings: a spelling of it,
    hostile text, or another domain."""
    held = draw(DOMAINS)
    kind = draw(st.sampled_from(["variant", "hostile", "other"]))
    if kind == "variant":
        wanted = spellings(draw, held)
    elif kind == "hostile":
        wanted = draw(HOSTILE)
    else:
        wanted = draw(DOMAINS)
    return held, spellings(draw, held), wanted


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURES)
@given(case=import_cases(), replace=st.booleans())
def test_an_import_never_gives_a_site_a_variant_of_another_sites_domain(
    any_app, make, case, replace
):
    """A new site or a replaced one (the owner's restore) takes the import's domain in normal
    form, unless another site holds it in any spelling; a non-domain is refused, nothing changed."""
    config = any_app.config
    held, spelling, text = case
    if db.session.scalar(db.select(Site).where(Site.subdomain == "holder")) is None:
        owner = make.user(email="owner@example.org")
        make.site(subdomain="holder", owner=owner)
        make.site(subdomain="target", owner=owner)
    holder = db.session.scalar(db.select(Site).where(Site.subdomain == "holder"))
    holder.custom_domain = None
    db.session.flush()  # another example's import may hold it: the holder takes it back
    db.session.execute(
        db.update(Site).where(Site.custom_domain == normal_domain(held)).values(custom_domain=None)
    )
    holder.custom_domain = spelling  # any spelling: the model stores the normal form
    target = db.session.scalar(db.select(Site).where(Site.subdomain == "target"))
    target.custom_domain = None
    db.session.commit()
    assert holder.custom_domain == normal_domain(held)
    try:
        expected = normal_domain(text)
    except InvalidDomain:
        expected = InvalidDomain
    subdomain = f"new{next(_names)}"
    name = "target" if replace else subdomain
    replace_id = target.id if replace else None
    before = database_state()
    rows = _rows(subdomain, text)
    if expected is InvalidDomain:
        with pytest.raises(InvalidSiteData, match="custom domain"):
            load_site(config, db.engine, rows, replace_site_id=replace_id)
        assert database_state() == before
        return
    others = {s: d for s, d in _domains().items() if s != name}
    summary = load_site(config, db.engine, rows, replace_site_id=replace_id)
    domains = _domains()
    taken = expected is not None and expected in others.values()
    assert domains[name] == (None if taken else expected)
    assert taken == any("belongs to another site" in note for note in summary.notes)
    if spelling is not text and normal_domain(text) == normal_domain(held):
        assert domains[name] is None  # a variant of the holder's domain never lands
    stored = [d for d in domains.values() if d is not None]
    assert len(stored) == len(set(stored))
    assert all(is_normal(d) for d in stored)


def test_site_create_stores_the_normal_form_and_refuses_a_variant_naming_its_holder(
    app, make, runner
):
    make.user(email="owner@example.org")
    create = ["site", "create", "--owner", "owner@example.org", "--custom-domain"]
    made = runner.invoke(args=[*create, "WWW.Camp.Example.", "--subdomain", "camp"])
    assert made.exit_code == 0, made.output
    db.session.remove()
    assert _domains() == {"camp": "www.camp.example"}
    variant = runner.invoke(args=[*create, "www.CAMP.example", "--subdomain", "other"])
    assert variant.exit_code == 1
    assert "the custom domain www.camp.example is taken by site camp" in variant.output
    invalid = runner.invoke(args=[*create, "camp_site.example", "--subdomain", "other"])
    assert invalid.exit_code == REFUSED
    assert "invalid custom domain: 'camp_site.example' is not a valid domain name" in invalid.output
    assert _domains() == {"camp": "www.camp.example"}
