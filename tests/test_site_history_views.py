"""The Site history page: who sees it, what it shows, and the restore it queues."""

import pytest
import sqlalchemy as sa

from app.backup.system import create_backup
from app.exports import restorejobs
from app.extensions import db
from app.models import Page, Site, User
from tests.backupkit import FakeClock
from tests.historykit import run_history
from tests.sitekit import all_site_ids, build_camp, snapshot
from tests.support.web import login, post_json
from tests.undokit import exact_site, run

ROLES = ["owner", "global_admin", "site_admin", "editor", "other_owner", "anonymous"]
MAY_SEE = {"owner", "global_admin"}


@pytest.fixture
def camp(app, make):
    """Lakeside backed up, its home page renamed, backed up again; pinecrest of another owner."""
    owner, admin, editor = make.user(), make.user(), make.user()
    site = build_camp(make, "lakeside", owner=owner, members=[(admin, "admin"), (editor, "editor")])
    other_owner = make.user()
    build_camp(make, "pinecrest", owner=other_owner)
    clock = FakeClock()
    first = create_backup(app.config, db.engine, clock=clock).backup_id
    db.session.scalar(sa.select(Page).filter_by(site_id=site.id, slug="home")).title = "Welcome"
    db.session.commit()
    clock.advance(days=1)
    second = create_backup(app.config, db.engine, clock=clock).backup_id
    users = {
        "owner": owner, "site_admin": admin, "editor": editor, "other_owner": other_owner,
        "global_admin": make.user(admin=True), "anonymous": None,
    }  # fmt: skip
    return {
        "site_id": site.id,
        "users": {role: user and user.id for role, user in users.items()},
        "backups": [second, first],
    }


def _as(app, camp, role):
    user_id = camp["users"][role]
    return login(app, user_id and db.session.get(User, user_id))


def _home_title(site_id):
    db.session.remove()
    return db.session.scalar(sa.select(Page.title).filter_by(site_id=site_id, slug="home"))


def _routes(camp, job_id):
    base = f"/admin/sites/{camp['site_id']}/history"
    first = camp["backups"][1]
    return [
        ("get", base, None),
        ("get", f"{base}/versions/{first}", None),
        ("post", f"{base}/versions/{first}/restore", {"confirm": "lakeside"}),
        ("get", f"{base}/jobs/{job_id}", None),
        ("post", f"{base}/jobs/{job_id}/undo", {}),
    ]


@pytest.mark.parametrize("role", ["site_admin", "editor", "other_owner", "anonymous"])
def test_every_history_route_is_not_found_for_anyone_but_the_owner(app, camp, role):
    owner, owner_csrf = _as(app, camp, "owner")
    first = camp["backups"][1]
    url = f"/admin/sites/{camp['site_id']}/history/versions/{first}/restore"
    job = post_json(owner, owner_csrf, url, {"confirm": "lakeside"}).get_json()
    assert run_history(app.config, job["job_id"]) == "done"
    before = snapshot(app.config, all_site_ids())
    client, csrf = _as(app, camp, role)
    for method, url, body in _routes(camp, job["job_id"]):
        if method == "get":
            for accept in ("text/html", "application/json"):
                answer = client.get(url, headers={"Accept": accept})
                assert answer.status_code == 404, (url, accept)
                assert "lakeside" not in answer.get_data(as_text=True)
        else:
            answer = post_json(client, csrf, url, body)
            assert answer.status_code == 404, url
    assert snapshot(app.config, all_site_ids()) == before
    assert len(restorejobs.job_store(app.config).ids()) == 1  # only the owner's


def test_the_site_page_links_the_history_for_its_owner_and_global_admins_only(app, camp):
    for role in ("owner", "global_admin", "site_admin"):
        client, _csrf = _as(app, camp, role)
        page = client.get(f"/admin/sites/{camp['site_id']}").get_data(as_text=True)
        assert ('id="site-history-link"' in page) is (role in MAY_SEE), role


@pytest.mark.parametrize("role", sorted(MAY_SEE))
def test_the_page_lists_the_versions_with_what_changed_since(app, camp, role):
    client, _csrf = _as(app, camp, role)
    page = client.get(f"/admin/sites/{camp['site_id']}/history").get_data(as_text=True)
    assert page.count('class="version"') == 2
    assert "the same as the site now" in page
    assert "since then: 1 page changed (home)" in page
    assert page.count("Restore this version</button>") == 2  # one per version, and the confirm
    data = client.get(
        f"/admin/sites/{camp['site_id']}/history", headers={"Accept": "application/json"}
    ).get_json()
    assert [v["backup_id"] for v in data["versions"]] == camp["backups"]
    assert data["versions"][1]["restore"] == ["put back 1 page as it was (home)"]


def test_another_sites_backup_or_a_bad_id_is_no_version(app, camp):
    client, _csrf = _as(app, camp, "owner")
    base = f"/admin/sites/{camp['site_id']}/history/versions"
    for backup_id in ("stinkykitty-2030-01-01-000000", "../../etc", "nonsense"):
        assert client.get(f"{base}/{backup_id}").status_code == 404
    pinecrest = db.session.scalar(sa.select(Site.id).where(Site.subdomain == "pinecrest"))
    other = f"/admin/sites/{pinecrest}/history/versions/{camp['backups'][1]}"
    assert client.get(other).status_code == 404


def test_a_restore_needs_the_sites_name_typed(app, camp):
    client, csrf = _as(app, camp, "owner")
    url = f"/admin/sites/{camp['site_id']}/history/versions/{camp['backups'][1]}/restore"
    for typed in (None, "", "pinecrest", "lakesid"):
        answer = post_json(client, csrf, url, {} if typed is None else {"confirm": typed})
        assert answer.status_code == 400
        assert answer.get_json()["error"] == "Type the site's name, lakeside, to confirm."
    assert restorejobs.job_store(app.config).ids() == []
    assert client.post(url, json={"confirm": "lakeside"}).status_code == 400  # no CSRF token


def test_restore_then_undo_from_the_page(app, camp):
    site_id = camp["site_id"]
    client, csrf = _as(app, camp, "owner")
    now = exact_site(app.config, site_id)
    url = f"/admin/sites/{site_id}/history/versions/{camp['backups'][1]}/restore"
    started = post_json(client, csrf, url, {"confirm": " LakeSide"})
    assert started.status_code == 202, started.get_json()
    job = started.get_json()
    assert job["state"] == "queued"
    second = post_json(client, csrf, url, {"confirm": "lakeside"})
    assert second.status_code == 409
    assert "already running" in second.get_json()["error"]

    assert run_history(app.config, job["job_id"]) == "done"
    assert _home_title(site_id) == "Home"
    status = client.get(job["status_url"]).get_json()
    assert status["message"].startswith("Restored the version of 2025-06-01 02:00 UTC: 3 pages")
    page = client.get(f"/admin/sites/{site_id}/history").get_data(as_text=True)
    assert status["message"] in page
    assert 'id="history-undo" class="secondary">' in page  # offered, not hidden

    undone = post_json(client, csrf, status["undo_url"])
    assert undone.status_code == 202
    assert run(app.config, undone.get_json()["job_id"]) == "done"
    assert exact_site(app.config, site_id) == now
    final = client.get(undone.get_json()["status_url"]).get_json()
    assert final["message"].startswith("Undone: the site is back as it was before the restore")
    assert final["undo_url"] is None


def test_a_backup_not_indexed_yet_is_read_by_a_worker_not_by_the_page(app, camp):
    from app.backup.history import store as indexfiles

    first = camp["backups"][1]
    indexfiles.index_path(app.config, first).unlink()
    client, _csrf = _as(app, camp, "owner")
    page = client.get(f"/admin/sites/{camp['site_id']}/history").get_data(as_text=True)
    assert page.count('class="version"') == 1
    assert "1 older backup is being read" in page
    assert client.get(f"/admin/sites/{camp['site_id']}/history/versions/{first}").status_code == 404
    assert indexfiles.read_index(app.config, first) is None  # the request read no archive
    assert indexfiles.index_missing(app.config) == [first]  # what the queued task runs
    page = client.get(f"/admin/sites/{camp['site_id']}/history").get_data(as_text=True)
    assert page.count('class="version"') == 2
