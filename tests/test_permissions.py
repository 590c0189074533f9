"""Who may act on which site, and the dashboard that follows from it."""

import re

import pytest
from flask_login import AnonymousUserMixin

from app.extensions import db
from app.permissions import can_manage_site, manageable_sites_query

ROW = re.compile(
    r'<tr data-site="([^"]+)">\s*<td>(?:<a [^>]*>)?[^<]*(?:</a>)?</td>\s*<td>[^<]*</td>\s*'
    r'<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>'
)


@pytest.fixture
def camp(app, make):
    """Two sites with different owners, a site admin and an editor on the first."""
    people = {
        "global": make.user(admin=True),
        "owner": make.user(),
        "other_owner": make.user(),
        "site_admin": make.user(),
        "editor": make.user(),
        "stranger": make.user(),
    }
    site = make.site(owner=people["owner"], subdomain="pinecrest")
    other = make.site(owner=people["other_owner"], subdomain="lakeside")
    make.member(site, people["site_admin"], "admin")
    make.member(site, people["editor"], "editor")
    return people, site, other


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("global", True),
        ("owner", True),
        ("site_admin", True),
        ("editor", False),
        ("other_owner", False),
        ("stranger", False),
    ],
)
def test_can_manage_site_by_role(camp, who, allowed):
    people, site, _ = camp
    assert can_manage_site(people[who], site) is allowed


def test_anonymous_and_missing_users_may_not_manage(camp):
    _, site, _ = camp
    assert can_manage_site(AnonymousUserMixin(), site) is False
    assert can_manage_site(None, site) is False


def test_owner_recorded_only_on_the_site_row_still_manages(app, make):
    owner = make.user()
    site = make.site(owner=owner)
    db.session.execute(db.delete(type(site.members[0])))  # no SiteUser row left
    db.session.commit()
    assert can_manage_site(owner, site) is True


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("global", ["lakeside", "pinecrest"]),
        ("owner", ["pinecrest"]),
        ("site_admin", ["pinecrest"]),
        ("editor", []),
        ("other_owner", ["lakeside"]),
        ("stranger", []),
    ],
)
def test_manageable_sites_query_lists_exactly_the_allowed_sites(camp, who, expected):
    people, _, _ = camp
    sites = db.session.scalars(manageable_sites_query(people[who])).all()
    assert [s.subdomain for s in sites] == expected


def dashboard_rows(client):
    """Return {subdomain: (pages, menu items, media)} from the dashboard."""
    html = client.get("/admin/").get_data(as_text=True)
    return {sub: tuple(map(int, counts)) for sub, *counts in ROW.findall(html)}


def fill(make, site, pages, menu, media):
    for _ in range(pages):
        make.page(site)
    for n in range(menu):
        make.menu_item(site, f"Item {n}", f"/item-{n}", n)
    for _ in range(media):
        make.media(site)


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("global", {"pinecrest": (3, 2, 1), "lakeside": (1, 0, 4)}),
        ("owner", {"pinecrest": (3, 2, 1)}),
        ("site_admin", {"pinecrest": (3, 2, 1)}),
        ("other_owner", {"lakeside": (1, 0, 4)}),
        ("editor", {}),
    ],
)
def test_dashboard_shows_exactly_the_managed_sites_with_counts(
    camp, make, client, login_as, who, expected
):
    people, site, other = camp
    fill(make, site, pages=3, menu=2, media=1)
    fill(make, other, pages=1, menu=0, media=4)
    login_as(people[who])
    assert dashboard_rows(client) == expected


def test_owner_never_sees_another_owners_site(camp, client, login_as):
    people, _, other = camp
    login_as(people["owner"])
    html = client.get("/admin/").get_data(as_text=True)
    assert "pinecrest" in html
    assert other.subdomain not in html
    assert other.title not in html


def test_dashboard_says_so_when_the_user_manages_nothing(camp, client, login_as):
    people, _, _ = camp
    login_as(people["editor"])
    assert "You do not manage any site yet." in client.get("/admin/").get_data(as_text=True)
