"""Downloading a system backup from the backups page: the password first, then a signed link."""

import hashlib
import re
import time

import itsdangerous.timed

from app.backup.catalog import backup_path
from app.backup.runs import run_backup
from app.extensions import db
from app.models import Site
from tests.factories import PASSWORD
from tests.support.camps import login_as_role
from tests.support.web import login


def _download_url(client, backup_id):
    html = client.get("/admin/backups").get_data(as_text=True)
    found = re.search(rf'href="(/admin/backups/{backup_id}/download\?token=[^"]+)"', html)
    return found and found.group(1).replace("&amp;", "&")


def _confirm(client, csrf, password):
    return client.post(
        "/admin/backups/confirm-password", data={"csrf_token": csrf, "password": password}
    )


def test_download_needs_the_password_then_streams_length_and_checksum(app, backup_camp):
    client, csrf = login_as_role(app, backup_camp, "global_admin")
    assert _download_url(client, backup_camp["backup"]) is None
    assert _confirm(client, csrf, "wrong").status_code == 401
    assert _download_url(client, backup_camp["backup"]) is None
    assert _confirm(client, csrf, PASSWORD).status_code == 303
    url = _download_url(client, backup_camp["backup"])
    response = client.get(url)
    path_bytes = backup_path(app.config, backup_camp["backup"]).read_bytes()
    body = response.get_data()
    assert response.status_code == 200
    assert body == path_bytes
    assert int(response.headers["Content-Length"]) == len(path_bytes)
    assert response.headers["X-Checksum-SHA256"] == hashlib.sha256(path_bytes).hexdigest()
    assert "attachment" in response.headers["Content-Disposition"]


def test_a_link_is_bound_to_the_admin_and_the_file_and_expires(app, backup_camp, make, monkeypatch):
    client, csrf = login_as_role(app, backup_camp, "global_admin")
    _confirm(client, csrf, PASSWORD)
    url = _download_url(client, backup_camp["backup"])
    other_admin, _ = login(app, make.user(admin=True))
    assert other_admin.get(url).status_code == 403
    token = url.split("token=")[1]
    make.page(db.session.get(Site, backup_camp["sites"]["lakeside"]), slug="new")
    _, newer = run_backup(app.config, db.engine, trigger="cli")
    assert client.get(f"/admin/backups/{newer.backup_id}/download?token={token}").status_code == 403
    assert client.get(url.replace(token, token[:-2] + "xx")).status_code == 403

    class Later:
        @staticmethod
        def time():
            return time.time() + app.config["BACKUP_LINK_TTL"] + 5

    monkeypatch.setattr(itsdangerous.timed, "time", Later)
    response = client.get(url)
    assert response.status_code == 403
    assert "expired" in response.get_json()["error"]


def test_the_password_confirmation_lasts_five_minutes(app, backup_camp, monkeypatch):
    import app.blueprints.backups as view

    assert app.config["BACKUP_SUDO_TTL"] == 300
    client, csrf = login_as_role(app, backup_camp, "global_admin")
    _confirm(client, csrf, PASSWORD)
    assert _download_url(client, backup_camp["backup"])

    class Later:
        @staticmethod
        def time():
            return time.time() + 301

    monkeypatch.setattr(view, "time", Later)
    assert _download_url(client, backup_camp["backup"]) is None


def test_the_checksum_is_remembered_and_forgotten_with_its_backup(app, backup_camp, make):
    from app.backup.downloads import file_checksum
    from app.backup.system import delete_backup

    first = backup_camp["backup"]
    path = backup_path(app.config, first)
    assert file_checksum(app.config, first) == hashlib.sha256(path.read_bytes()).hexdigest()
    note = path.with_name(f".{path.name}.sha256")
    assert note.is_file()
    make.page(db.session.get(Site, backup_camp["sites"]["lakeside"]), slug="new")
    _, newer = run_backup(app.config, db.engine, trigger="cli")
    delete_backup(app.config, first)
    file_checksum(app.config, newer.backup_id)
    assert not note.exists()


def test_wrong_passwords_at_the_confirmation_are_throttled(make_app, make):
    app = make_app(LOGIN_FAILURES_PER_ACCOUNT="3 per minute")
    with app.app_context():
        client, csrf = login(app, make.user(admin=True))
        answers = [_confirm(client, csrf, "wrong").status_code for _ in range(3)]
        refused = _confirm(client, csrf, PASSWORD)
    assert answers == [401, 401, 401]
    assert refused.status_code == 429
    assert "Too many wrong passwords" in refused.get_data(as_text=True)
