"""Migration 0002 puts existing custom domains in normal form, or refuses a collision by name.

In place on every engine, and on the way a backup of revision 0001 restores
(through the migrations, on a scratch database): variants become one spelling;
two sites holding one name, or a domain that is no name at all, stop it with
both sites named and nothing live changed.
"""

import datetime as dt
import shutil

import pytest
import sqlalchemy as sa

from app.backup.catalog import backups_dir
from app.backup.errors import RestoreFailed
from app.backup.restore import upgrade
from app.backup.system import restore_backup
from app.dumps.dump import database_revision
from app.extensions import db
from app.models import Site, User
from tests.backupkit import full_state, leftovers, rebuild, unpack
from tests.conftest import _reset_schema
from tests.goldenkit import golden_backups, read_listing

pytestmark = pytest.mark.integration

OLD = next(path for path in golden_backups() if read_listing(path)["revision"] == "0001")
MOMENT = dt.datetime(2026, 1, 2, 12, 0, 0, 654321)


def _at_0001(app):
    """Empty ``app``'s database and build it up to revision 0001."""
    _reset_schema(db.engine.url.render_as_string(hide_password=False))
    db.engine.dispose()
    upgrade.migrate(app.config, db.engine, "0001")


def _insert(domains):
    """Insert a user and one site per domain (raw rows: no model normalises them)."""
    users, sites = User.__table__, Site.__table__
    with db.engine.begin() as conn:
        conn.execute(
            users.insert().values(
                id=1,
                email="o@example.org",
                password_hash="x",
                is_global_admin=False,
                created_at=MOMENT,
                updated_at=MOMENT,
            )
        )
        conn.execute(
            sites.insert(),
            [
                {
                    "id": n,
                    "subdomain": f"camp{n}",
                    "custom_domain": domain,
                    "owner_id": 1,
                    "title": f"Camp {n}",
                    "tagline": None,
                    "theme": {},
                    "created_at": MOMENT,
                    "updated_at": MOMENT,
                }
                for n, domain in enumerate(domains, 1)
            ],
        )


def _domains():
    with db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT custom_domain FROM sites ORDER BY id")).scalars().all()


def _revision():
    with db.engine.connect() as conn:
        return database_revision(conn)


def test_existing_domains_are_normalised_in_place(any_app):
    _at_0001(any_app)
    _insert(
        ["WWW.Camp.Example.ORG.", None, "bücher.Example", "   ", "plain.example", "Ab.example."]
    )
    upgrade.migrate(any_app.config, db.engine, "0002")
    assert _domains() == [
        "www.camp.example.org",
        None,
        "xn--bcher-kva.example",
        None,
        "plain.example",
        "ab.example",
    ]


@pytest.mark.parametrize(
    ("domains", "message"),
    [
        (
            ["camp.example", "x.example", "CAMP.example."],
            r"sites camp1 \(id 1, 'camp\.example'\) and camp3 \(id 3, 'CAMP\.example\.'\) "
            r"have the same custom domain camp\.example",
        ),
        (
            ["xn--bcher-kva.example", "Bücher.example"],
            r"sites camp1 .* and camp2 .* have the same custom domain xn--bcher-kva\.example",
        ),
        (["ok.example", "no spaces.example"], r"site camp2 \(id 2\) .* is not a domain name"),
    ],
)
def test_a_collision_or_a_non_domain_stops_the_migration_naming_the_sites(
    any_app, domains, message
):
    _at_0001(any_app)
    _insert(domains)
    with pytest.raises(RuntimeError, match=message):
        upgrade.migrate(any_app.config, db.engine, "0002")
    assert _domains() == domains
    assert _revision() == "0001"


def _old_backup_with(config, tmp_path, domains):
    """Install a copy of the 0001 golden whose sites have ``domains``; return its id."""
    folder = backups_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    backup_id = "stinkykitty-2026-11-30-020000"
    path = folder / f"{backup_id}.tar.gz"
    shutil.copyfile(OLD, path)
    manifest, files = unpack(path, tmp_path / "x")
    changed = []
    for name, data in files:
        if name.endswith("-sites.jsonl"):
            lines = data.decode().splitlines()
            for n, domain in enumerate(domains):
                old = lines[n].split('"custom_domain":', 1)
                rest = old[1].split(',"owner_id"', 1)[1]
                value = "null" if domain is None else f'"{domain}"'
                lines[n] = f'{old[0]}"custom_domain":{value},"owner_id"{rest}'
            data = ("\n".join(lines) + "\n").encode()
        changed.append((name, data))
    rebuild(path, manifest, changed)
    return backup_id


@pytest.mark.parametrize("engine", ["sqlite", "mariadb", "postgresql"])
def test_an_old_backup_restores_with_its_domains_normalised(make_app, tmp_path, engine):
    app = make_app(engine)
    with app.app_context():
        backup_id = _old_backup_with(app.config, tmp_path, ["WWW.Pinecrest.Example.ORG.", None])
        outcome = restore_backup(app.config, db.engine, backup_id, allow_unauthenticated=True)
        assert list(outcome.migrations) == ["0002"]
        assert _domains() == ["www.pinecrest.example.org", None, None]
        assert _revision() == "0002"


def test_an_old_backup_with_a_collision_is_refused_naming_both_sites(make, app, tmp_path):
    make.site(subdomain="live", custom_domain="live.example")
    backup_id = _old_backup_with(app.config, tmp_path, ["pinecrest.example", "Pinecrest.Example."])
    before = full_state(app.config)
    with pytest.raises(
        RestoreFailed,
        match=r"migration 0002 \(custom domains in normal form\) failed.*"
        r"sites pinecrest \(id 1, 'pinecrest\.example'\) and lakeside \(id 2",
    ):
        restore_backup(app.config, db.engine, backup_id, allow_unauthenticated=True)
    assert full_state(app.config) == before
    assert leftovers(app.config) == []
