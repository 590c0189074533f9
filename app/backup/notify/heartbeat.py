"""The dead man's switch: ``NOTIFY_HEARTBEAT_URL`` is fetched after every good backup run.

A monitor elsewhere (a self-hosted healthchecks service, an Uptime Kuma push
monitor) raises the alarm when the fetches stop, which covers the case no
message from this server can: the server itself is down.
"""

import logging
import urllib.error
import urllib.request

log = logging.getLogger(__name__)

TIMEOUT = 10.0


def _where(url):
    """Return ``url`` without its path and query (push URLs carry their token there)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].rpartition('@')[2]}/…"


def ping(url, *, timeout=TIMEOUT):
    """Fetch ``url`` (GET); return None when it answered 2xx, else why not (logged)."""
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "StinkyKitty-backups"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(1024)
        return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        error = f"heartbeat {_where(url)} not reached: {reason}"
    log.error("%s", error)
    return error
