"""An owner's restore tells nothing of accounts the owner cannot already see.

Whatever uploader emails an owner writes into an export of their site, the
restore's status (its summary) and the restored rows are the same whether an
email that is not on the site belongs to an account here or to nobody: the
login page hides which emails have accounts, and so does the restore.
"""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.exports.export import export_site
from app.extensions import db
from app.models import MediaItem, Site, User
from tests import undokit
from tests.backupkit import rebuild, unpack
from tests.sitekit import build_camp
from tests.support.web import login, post_json, upload_export

OUTSIDER = "outsider@pinecrest.example"  # an account here, on another site only


def _crafted(config, site_id, uploaders, folder):
    """Return the bytes of the site's export with each media item's uploader replaced."""
    saved = export_site(config, site_id, dest=folder / "saved.tar.gz")
    manifest, files = unpack(saved.path, folder / "saved")
    edited = []
    for path, data in files:
        if path == "media.json":
            items = json.loads(data)
            for item, uploader in zip(items, uploaders, strict=False):
                item["uploaded_by"] = uploader
            data = json.dumps(items).encode()
        edited.append((path, data))
    return rebuild(folder / "crafted.tar.gz", manifest, edited).read_bytes()


def _restore(app, owner_id, site_id, archive):
    """Restore ``archive`` over the site as its owner; return (status JSON, uploader ids)."""
    client, csrf = login(app, db.session.get(User, owner_id))
    job = upload_export(client, csrf, site_id, archive).get_json()
    assert post_json(client, csrf, job["confirm_url"]).status_code == 202
    assert undokit.run(app.config, job["job_id"]) == "done"
    status = client.get(job["status_url"]).get_json()
    uploaders = db.session.scalars(
        db.select(MediaItem.uploaded_by_id).where(MediaItem.site_id == site_id).order_by("id")
    ).all()
    return status, uploaders


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(choices=st.lists(st.sampled_from(["owner", "outsider", "nobody", None]), min_size=3))
def test_the_summary_is_the_same_whether_an_outsider_has_an_account(
    app, make, tmp_path_factory, choices
):
    site = Site.query.filter_by(subdomain="lakeside").one_or_none()
    if site is None:
        owner = make.user(email="owner@lakeside.example")
        site = build_camp(make, "lakeside", owner=owner)
        build_camp(make, "pinecrest", owner=make.user(email=OUTSIDER))
    site_id, owner_id, owner_email = site.id, site.owner_id, site.owner.email
    emails = {"owner": owner_email, "nobody": "nobody@nowhere.example", None: None}

    runs = []
    for outsider in (OUTSIDER, "never-registered@pinecrest.example"):
        uploaders = [emails.get(c, outsider) for c in choices]
        folder = tmp_path_factory.mktemp("crafted")
        status, ids = _restore(
            app, owner_id, site_id, _crafted(app.config, site_id, uploaders, folder)
        )
        assert OUTSIDER not in json.dumps(status)
        summary = {k: v for k, v in status["summary"].items() if k != "duration"}
        runs.append((summary, ids))

    assert runs[0] == runs[1]
    assert runs[0][0]["uploaders_cleared"] == sum(c in ("outsider", "nobody") for c in choices[:3])
