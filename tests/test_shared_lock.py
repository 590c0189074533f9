"""The backup lock and the maintenance flag in the real Redis, for hosts without a shared disk."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.backup.errors import BackupLocked, PausedForRestore, TasksStillRunning
from app.backup.restore import system as restore_module
from app.backup.system import create_backup, restore_backup
from app.coordination import maintenance as maintenance_module
from app.coordination.lock import backup_lock, lock_holder, lock_path
from app.coordination.maintenance import (
    enter_maintenance,
    flag_path,
    leave_maintenance,
    maintenance_state,
    site_flag_path,
    site_maintenance,
    sites_in_maintenance,
)
from app.coordination.running import running_tasks, site_data_work, wait_for_tasks
from app.extensions import db
from app.models import Site
from tests.processes import clean_env
from tests.workers import REDIS_URL

pytestmark = pytest.mark.integration

HOLD_SCRIPT = """
import json, sys, time
from app.coordination.lock import backup_lock
config = json.loads(sys.argv[1])
with backup_lock(config, "backup"):
    print("held", flush=True)
    time.sleep(3600)
"""


@pytest.fixture
def lock_config():
    """Settings that put the lock of this test alone in the real Redis, with a short lease."""
    return {
        "BACKUP_LOCK_URL": REDIS_URL,
        "BACKUP_LOCK_PREFIX": f"sk-test-{uuid.uuid4().hex[:12]}",
        "BACKUP_LOCK_TTL": 1.0,
    }


@pytest.fixture
def two_hosts(make_app, lock_config, tmp_path):
    """Two apps with data dirs of their own, sharing the lock's Redis (and nothing else)."""
    return (
        make_app(data_dir=tmp_path / "web-host", **lock_config),
        make_app(data_dir=tmp_path / "worker-host", **lock_config),
    )


def test_a_backup_on_another_host_is_told_who_holds_the_lock(two_hosts):
    web, worker = two_hosts
    with backup_lock(worker.config, "restore") as holder:
        assert lock_holder(web.config) == holder
        with web.app_context(), pytest.raises(BackupLocked) as refused:
            create_backup(web.config, db.engine)
    message = str(refused.value)
    assert f"a restore is running (pid {os.getpid()} on {holder['host']}" in message
    assert not lock_path(web.config).exists()  # no file lock was involved
    assert lock_holder(web.config) is None
    with web.app_context():
        assert create_backup(web.config, db.engine).created


def test_the_lease_outlives_its_ttl_while_the_holder_lives(lock_config):
    with backup_lock(lock_config, "backup") as holder:
        time.sleep(3 * lock_config["BACKUP_LOCK_TTL"])  # the heartbeat renews it meanwhile
        assert lock_holder(lock_config) == holder
        with pytest.raises(BackupLocked), backup_lock(lock_config, "backup"):
            pass
    assert lock_holder(lock_config) is None


def test_a_crashed_holder_frees_the_lock(lock_config):
    env = clean_env()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, json.dumps(lock_config)],
        stdout=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        assert holder.stdout.readline() == b"held\n"
        assert lock_holder(lock_config)["pid"] == holder.pid
    finally:
        os.killpg(holder.pid, signal.SIGKILL)  # no finally, no atexit: a crash
        holder.wait()
        holder.stdout.close()
    # Taken until the lease runs out (one TTL), then free for the next backup.
    with backup_lock(lock_config, "backup", wait=10 * lock_config["BACKUP_LOCK_TTL"]) as mine:
        assert mine["pid"] == os.getpid()


def test_the_maintenance_flag_is_seen_on_every_host_and_only_while_its_restore_runs(two_hosts):
    web, worker = two_hosts
    client = web.test_client()
    with backup_lock(worker.config, "restore"):
        enter_maintenance(worker.config, "restoring a backup")
        assert not flag_path(worker.config).exists()
        assert client.get("/login").status_code == 503
        leave_maintenance(worker.config)
        assert client.get("/login").status_code == 200
        enter_maintenance(worker.config, "restoring a backup")
    # The restore's process no longer holds the lock: its flag is stale, as with files.
    assert client.get("/login").status_code == 200
    leave_maintenance(worker.config)


def test_a_restore_takes_and_frees_the_shared_lock_and_flag(
    make_app, lock_config, make, monkeypatch
):
    app = make_app(**lock_config)
    with app.app_context():
        make.site(owner=make.user(), subdomain="lakeside")
        backup = create_backup(app.config, db.engine)
        make.site(owner=make.user(), subdomain="hilltop")
        seen = []

        def watch(config, reason, **kwargs):
            enter_maintenance(config, reason, **kwargs)
            seen.append((lock_holder(config)["operation"], maintenance_state(config)["reason"]))

        monkeypatch.setattr(restore_module, "enter_maintenance", watch)
        restore_backup(app.config, db.engine, backup.backup_id)
        assert seen == [("restore", f"restoring {backup.backup_id}")]
        assert lock_holder(app.config) is None
        assert maintenance_state(app.config) is None
        db.session.commit()
        assert [s.subdomain for s in db.session.scalars(sa.select(Site))] == ["lakeside"]


def test_a_site_flag_is_seen_on_every_host_while_its_restore_runs(two_hosts):
    web, worker = two_hosts
    with backup_lock(worker.config, "restore"):
        with site_maintenance(worker.config, 7, "restoring one site"):
            assert sites_in_maintenance(web.config) == {7}
            assert not list(Path(worker.config["STINKY_DATA_DIR"]).glob("maintenance-site-*"))
        assert sites_in_maintenance(web.config) == set()
        with site_maintenance(worker.config, 8, "restoring one site"):
            pass
    enter_maintenance(worker.config, "x", path=site_flag_path(worker.config, 9))  # then killed
    assert sites_in_maintenance(web.config) == set()  # stale: its process holds no lock
    maintenance_module._clear(worker.config, site_flag_path(worker.config, 9))


def test_a_restore_on_one_host_waits_for_the_tasks_running_on_another(two_hosts):
    web, worker = two_hosts
    with site_data_work(worker.config, "stinkykitty.export_site", "job-1") as record:
        (seen,) = running_tasks(web.config)
        assert (seen["task"], seen["task_id"], seen["pid"]) == (
            record["task"],
            "job-1",
            os.getpid(),
        )
        assert not (Path(worker.config["STINKY_DATA_DIR"]) / "running-tasks").exists()
        with pytest.raises(TasksStillRunning, match=r"stinkykitty\.export_site"):
            wait_for_tasks(web.config, timeout=0.5, poll=0.05)
    wait_for_tasks(web.config, timeout=0.5, poll=0.05)  # finished: nothing to wait for
    with backup_lock(web.config, "restore"):
        enter_maintenance(web.config, "restoring a backup")
        with (
            pytest.raises(PausedForRestore),
            site_data_work(worker.config, "stinkykitty.export_site"),
        ):
            pass
        leave_maintenance(web.config)
    assert running_tasks(web.config) == []
