"""Signed, expiring download links for finished site exports.

A link carries the job id, the user it was made for and the export's file name,
signed with the app's secret key under a salt of its own, so a link made for one
user, one job or one file is worth nothing for another, and it expires.
"""

from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.errors import REFUSED
from app.exports.errors import ExportError

DOWNLOAD_SALT = "stinkykitty.site-export.download.v1"


class InvalidDownloadLink(ExportError):
    """The link is tampered with, expired, or made for another user, job or file."""

    exit_code = REFUSED


def _serializer(secret_key):
    return URLSafeTimedSerializer(secret_key, salt=DOWNLOAD_SALT)


def make_download_token(secret_key, job_id, user_id, filename):
    """Return a token granting ``user_id`` the download of ``filename`` of job ``job_id``."""
    return _serializer(secret_key).dumps({"j": int(job_id), "u": int(user_id), "f": filename})


def check_download_token(secret_key, token, *, job_id, user_id, max_age):
    """Return the file name a valid token grants; raise InvalidDownloadLink otherwise.

    The token must be signed with ``secret_key``, younger than ``max_age``
    seconds, and made for this ``job_id`` and this ``user_id``.
    """
    try:
        payload = _serializer(secret_key).loads(token or "", max_age=max_age)
    except BadSignature as exc:  # SignatureExpired is a BadSignature too
        raise InvalidDownloadLink("invalid or expired download link") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("f"), str):
        raise InvalidDownloadLink("invalid download link")
    if payload.get("j") != int(job_id) or payload.get("u") != int(user_id):
        raise InvalidDownloadLink("download link made for another job or user")
    return payload["f"]
