"""Reverse proxies in front of the web server: whose word on the client's address counts.

``TRUSTED_PROXIES`` hops each append the address of their peer to
X-Forwarded-For (and set -Proto and -Host); the value that many entries from
the right was written by the outermost trusted hop, so the client cannot
choose it by sending the headers itself.
"""

from werkzeug.middleware.proxy_fix import ProxyFix


class TrustedProxies(ProxyFix):
    """Werkzeug's ProxyFix, reading the forwarded headers as plain comma-separated lists.

    ProxyFix parses them as HTTP list headers, where a double quote opens a
    quoted string: a client sending ``X-Forwarded-For: "`` would swallow the
    entries its proxies append and pass as the proxy itself. X-Forwarded-*
    values are never quoted, so a comma always separates two entries here.
    """

    def _get_real_value(self, trusted, value):
        if not (trusted and value):
            return None
        values = [part.strip() for part in value.split(",")]
        return values[-trusted] if len(values) >= trusted else None


def trust_proxies(wsgi_app, hops):
    """Return ``wsgi_app`` taking address, scheme and host from ``hops`` trusted proxies."""
    if not isinstance(hops, int) or isinstance(hops, bool) or hops < 0:
        raise ValueError(f"TRUSTED_PROXIES must be a whole number of proxy hops, not {hops!r}")
    if hops == 0:
        return wsgi_app
    return TrustedProxies(wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
