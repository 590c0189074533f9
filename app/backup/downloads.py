"""Downloading a system backup: a signed link bound to one admin and one file, and its checksum.

A system backup holds every password hash, so the page offers a link only
after the admin confirmed their password (the "sudo" step, kept in the
session by the view), and the link itself names the admin, the backup and the
file's size, is signed with the app's secret key under a salt of its own, and
expires after ``BACKUP_LINK_TTL`` seconds (default 300).
"""

import hashlib
import json
import os

from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.backup import catalog
from app.backup.errors import BackupError
from app.errors import REFUSED

SALT = "stinkykitty.system-backup.download.v1"
CHUNK = 1024 * 1024


class InvalidBackupLink(BackupError):
    """The link is tampered with, expired, or made for another admin or file."""

    exit_code = REFUSED


def _serializer(secret_key):
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def make_backup_token(secret_key, user_id, backup_id, size):
    """Return a token granting ``user_id`` the download of ``backup_id`` (``size`` bytes)."""
    return _serializer(secret_key).dumps({"u": int(user_id), "b": backup_id, "s": int(size)})


def check_backup_token(secret_key, token, *, user_id, backup_id, size, max_age):
    """Raise InvalidBackupLink unless ``token`` is valid for this admin, backup and file size."""
    try:
        payload = _serializer(secret_key).loads(token or "", max_age=max_age)
    except BadSignature as exc:  # SignatureExpired is a BadSignature too
        raise InvalidBackupLink("invalid or expired download link") from exc
    if not isinstance(payload, dict) or payload != {
        "u": int(user_id),
        "b": backup_id,
        "s": int(size),
    }:
        raise InvalidBackupLink("download link made for another admin or file")


def file_checksum(config, backup_id):
    """Return the SHA-256 (hex) of a backup's file, remembered while the file stays the same."""
    path = catalog.backup_path(config, backup_id)
    st = path.stat()
    key = f"{st.st_size}:{st.st_mtime_ns}"
    cache = catalog.backups_dir(config) / f".{path.name}.sha256"
    try:
        note = json.loads(cache.read_text())
        if note.get("key") == key:
            return note["sha256"]
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    tmp = cache.with_name(f"{cache.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"key": key, "sha256": digest.hexdigest()}))
    os.replace(tmp, cache)
    for note in cache.parent.glob(".*" + catalog.SUFFIX + ".sha256"):  # of deleted backups
        if not (cache.parent / note.name[1 : -len(".sha256")]).exists():
            note.unlink(missing_ok=True)
    return digest.hexdigest()
