"""Helpers of the scheduling tests: broken configs, big media, real worker and beat processes."""

import os
import socket
import subprocess
import sys
from contextlib import suppress
from pathlib import Path

from app import create_app
from app.config import Config
from tests.processes import clean_env
from tests.workers import CeleryProcess


def closed_port():
    """Return a local TCP port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unreachable_app(data_dir, **overrides):
    """An app on ``data_dir`` whose database is a server that is not there."""
    environ = {
        "STINKY_DATA_DIR": str(data_dir),
        "SECRET_KEY": "test-secret",
        "BACKUP_KEY": "test-backup-key",
        "DATABASE_URL": f"mysql+pymysql://root@127.0.0.1:{closed_port()}/gone",
    }
    return create_app(Config(environ=environ, TESTING=True, **overrides))


def add_big_media(site, megabytes, make):
    """Give ``site`` incompressible media of about ``megabytes`` MB, so a backup takes a moment."""
    chunk = 8
    for n in range(0, megabytes, chunk):
        make.media(site, content=os.urandom(chunk * 1024 * 1024), name=f"big-{n}.jpg")


def process_settings(data_dir, **environ):
    """The settings of a worker, beat or ``flask`` process on ``data_dir``."""
    return {
        "STINKY_DATA_DIR": data_dir,
        "SECRET_KEY": "test-secret",
        "BACKUP_KEY": "test-backup-key",
        **environ,
    }


def celery_process(kind, data_dir, log_path, environ):
    """Return a ``celery -A tests.celery_app worker|beat`` process on ``data_dir`` (not started)."""
    return CeleryProcess(
        log_path,
        process_settings(data_dir, **environ),
        kind=kind,
        entry="tests.celery_app",
        pool="prefork",
    )


def backup_every(settings, seconds):
    """Make the beat schedule in Celery ``settings`` send the system backup every ``seconds``."""
    schedule = dict(settings["beat_schedule"])
    schedule["system-backup"] = {**schedule["system-backup"], "schedule": seconds}
    settings["beat_schedule"] = schedule


def flask_process(data_dir, *args, **environ):
    """Start ``flask --app app <args>`` on ``data_dir`` in its own process group."""
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=data_dir.parent,
        env=clean_env(**process_settings(data_dir, **environ)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def log_tail(path, chars=4000):
    """The end of a process log, for assertion messages."""
    try:
        return Path(path).read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return ""


def remount(folder, options):
    """Change the mount options of the tmpfs on ``folder`` (e.g. "size=64m", "ro", "rw")."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)


def temp_archives(folder):
    """The archives being written in ``folder`` (non-empty temporaries)."""
    found = []
    for path in Path(folder).glob(".stinkykitty-*.tar.gz.tmp-*"):
        with suppress(FileNotFoundError):
            if not path.name.endswith("-text") and path.stat().st_size > 0:
                found.append(path)
    return found
