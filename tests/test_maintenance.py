"""Maintenance mode: the web answers 503 while a restore runs, and only then."""

import json

from app.backup.system import create_backup, restore_backup
from app.coordination.lock import backup_lock
from app.coordination.maintenance import enter_maintenance, flag_path, maintenance_state
from app.extensions import db


def test_web_answers_503_page_or_json_during_maintenance(app, client):
    with backup_lock(app.config, "restore"):
        enter_maintenance(app.config, "restoring a backup")
        page = client.get("/admin/")
        assert page.status_code == 503
        assert page.headers["Retry-After"] == "60"
        assert "Down for maintenance" in page.get_data(as_text=True)
        api = client.get("/admin/", headers={"Accept": "application/json"})
        assert api.status_code == 503
        assert api.get_json()["error"] == "maintenance"
        posted = client.post("/login", json={"email": "a@b.c"})
        assert posted.status_code == 503
        assert client.get("/static/style.css").status_code == 200
    assert client.get("/admin/").status_code != 503


def test_a_flag_left_by_a_killed_restore_is_stale(app, client):
    enter_maintenance(app.config, "restoring a backup")  # and then the process died
    assert flag_path(app.config).exists()
    assert maintenance_state(app.config) is None
    assert client.get("/admin/").status_code == 302


def test_a_stale_flag_stays_stale_while_a_backup_runs(app, client, tmp_path):
    enter_maintenance(app.config, "restoring a backup")
    flag = json.loads(flag_path(app.config).read_text())
    flag_path(app.config).write_text(json.dumps({**flag, "pid": 999_999_999}))  # a dead process
    with backup_lock(app.config, "backup"):
        assert maintenance_state(app.config) is None
        assert client.get("/admin/").status_code == 302


def test_requests_during_a_real_restore_get_503(app, make, client):
    make.site()
    outcome = create_backup(app.config, db.engine)
    db.session.remove()
    seen = []

    def look(phase, done, total):
        if phase == "load" and not seen:
            seen.append(client.get("/admin/").status_code)

    restore_backup(app.config, db.engine, outcome.backup_id, progress=look)
    assert seen == [503]
    assert client.get("/admin/").status_code == 302
    assert not flag_path(app.config).exists()
