"""A test client logged in as someone, and the requests the pages' scripts send."""

import re

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def login(app, user):
    """Return a fresh client logged in as ``user`` (anonymous for None), and its CSRF token."""
    client = app.test_client()
    if user is not None:
        with client.session_transaction() as session:
            session["_user_id"] = str(user.id)
            session["_fresh"] = True
    page = client.get("/admin/" if user else "/login").get_data(as_text=True)
    token = CSRF.search(page)
    return client, token.group(1) if token else ""


def csrf_token(client, path="/login"):
    """Return the CSRF token of the form at ``path``."""
    page = client.get(path)
    return CSRF.search(page.get_data(as_text=True)).group(1)


def is_logged_in(client):
    """Return True when the dashboard answers instead of sending to the login page."""
    return client.get("/admin/").status_code == 200


def post_export(client, csrf, site_id):
    """Click "Download my site" as the page's script does."""
    return client.post(
        "/admin/export",
        data={"site_id": site_id, "csrf_token": csrf},
        headers={"Accept": "application/json"},
    )


def upload_export(client, csrf, site_id, data):
    """Upload export bytes ``data`` to restore site ``site_id``, as the page's script does."""
    headers = {
        "Accept": "application/json",
        "X-CSRFToken": csrf,
        "Content-Type": "application/gzip",
    }
    return client.post(f"/admin/sites/{site_id}/restore", data=data, headers=headers)


def post_json(client, csrf, url, body=None):
    """Post JSON ``body`` to ``url`` with the CSRF header."""
    return client.post(url, json=body or {}, headers={"X-CSRFToken": csrf})
