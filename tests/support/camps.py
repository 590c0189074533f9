"""Fixture ``backup_camp``: two camps, their people and one backup, for the backups page."""

import pytest

from app.backup.runs import run_backup
from app.extensions import db
from app.models import User
from tests.sitekit import build_camp
from tests.support.web import login


@pytest.fixture
def backup_camp(app, make):
    """Two camps (lakeside with an admin and an editor), a global admin, and one backup."""
    owner, site_admin, editor = make.user(), make.user(), make.user()
    lakeside = build_camp(
        make, "lakeside", owner=owner, members=[(site_admin, "admin"), (editor, "editor")]
    )
    pinecrest = build_camp(make, "pinecrest")
    users = {
        "anonymous": None,
        "editor": editor.id,
        "site_admin": site_admin.id,
        "owner": owner.id,
        "global_admin": make.user(admin=True).id,
    }
    _record, outcome = run_backup(app.config, db.engine, trigger="cli")
    return {
        "users": users,
        "backup": outcome.backup_id,
        "sites": {"lakeside": lakeside.id, "pinecrest": pinecrest.id},
    }


def login_as_role(app, camp, role):
    """Return (client, CSRF token) of a client logged in as ``role`` of ``backup_camp``."""
    user_id = camp["users"][role]
    return login(app, user_id and db.session.get(User, user_id))
