"""Where notifications go: the Apprise URLs of ``NOTIFY_URLS``, masked for showing, and delivery.

Apprise speaks email, ntfy, Slack, Matrix, Telegram, generic JSON webhooks and
about a hundred other services, each configured by one URL. Every URL is sent
to on its own, so that one failing service is named and does not hide the
others. Apprise is imported here only, on first use.
"""

import logging
import re
from dataclasses import dataclass

log = logging.getLogger(__name__)

KINDS = ("info", "success", "warning", "failure")  # Apprise's notification types


@dataclass(frozen=True)
class Message:
    """One notification: a title, a body of plain text, and its kind (one of KINDS)."""

    title: str
    body: str
    kind: str = "info"


@dataclass(frozen=True)
class Delivery:
    """What became of a message at one URL (``url`` masked)."""

    url: str
    ok: bool
    error: str | None = None

    def to_dict(self):
        """Return a JSON-ready dict."""
        return {"url": self.url, "ok": self.ok, "error": self.error}


def notify_urls(config):
    """Return the URLs of NOTIFY_URLS (comma- or space-separated), in order, without repeats."""
    text = config.get("NOTIFY_URLS") or ""
    urls = []
    for url in re.split(r"[\s,]+", text):
        if url and url not in urls:
            urls.append(url)
    return urls


def _plugin(url):
    import apprise  # here: it takes a tenth of a second to import, few processes need it

    asset = apprise.AppriseAsset(storage_mode="memory")
    return apprise.Apprise.instantiate(url, asset=asset, suppress_exceptions=True)


def mask(url):
    """Return ``url`` fit to show: passwords and tokens hidden, Apprise's defaults left out."""
    plugin = _plugin(url)
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        return f"{scheme}://… (not a URL Apprise knows)"
    return plugin.url(privacy=True).split("?", 1)[0]


def _last_warning(captured):
    lines = [line.split(" - ", 2)[-1] for line in captured.splitlines() if " - " in line]
    return lines[-1].strip() if lines else "the service did not accept the message"


def deliver_one(url, message):
    """Send ``message`` to one Apprise ``url``; return its Delivery (never raises)."""
    import apprise

    try:
        plugin = _plugin(url)
        if plugin is None:
            return Delivery(mask(url), False, "not a URL Apprise knows (see its documentation)")
        sender = apprise.Apprise(asset=plugin.asset)
        sender.add(plugin)
        with apprise.LogCapture(level=logging.WARNING) as captured:
            ok = bool(
                sender.notify(title=message.title, body=message.body, notify_type=message.kind)
            )
            text = captured.getvalue()
    except Exception as exc:  # a plugin's own bug must not stop the other URLs
        return Delivery(_safe_mask(url), False, f"{type(exc).__name__}: {exc}")
    return Delivery(mask(url), ok, None if ok else _last_warning(text))


def _safe_mask(url):
    try:
        return mask(url)
    except Exception:
        return url.split("://", 1)[0] + "://…"


def deliver(urls, message):
    """Send ``message`` to every URL; return one Delivery per URL (failures logged)."""
    deliveries = [deliver_one(url, message) for url in urls]
    for delivery in deliveries:
        if not delivery.ok:
            log.error(
                "notification %r not delivered to %s: %s",
                message.title,
                delivery.url,
                delivery.error,
            )
    return deliveries
