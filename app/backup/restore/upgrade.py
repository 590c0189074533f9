"""Bring a backup of an older schema revision up to this app's schema, off to the side.

A backup's dump is loaded into a **scratch SQLite file** in the restore's
staging folder, at the backup's own revision (Alembic builds that schema on
the empty file), then Alembic upgrades the scratch to the live database's
revision and the result is dumped again next to it. The restore then loads
that dump into the live database in its usual one-transaction swap, so the
live database and media are untouched until that last step, and a migration
that fails only spoils the scratch file.

Why SQLite for every target: it needs no server privilege (a scratch database
on MariaDB or PostgreSQL needs CREATE DATABASE, which a production account
often lacks, and leaves a database behind after a crash), it lives and dies
with the staging folder, and the dump codecs already move every value exactly
between engines (``app.dumps.dump``). The price is that every migration
must run on SQLite: batch mode for ALTERs, no dialect-only SQL (see
docs/development.md). The tables of the scratch are reflected and their types
made generic (``as_generic``), so the head dump loads into any engine.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from app.archive import check_space
from app.backup.errors import (
    ArchiveError,
    BackupError,
    CorruptArchive,
    RestoreFailed,
    SchemaMismatch,
)
from app.backup.restore.scratch import dump_scratch, load_scratch, scratch_engine
from app.dumps import DEFAULT_MAX_ROW_BYTES

MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"
HEAD_DUMP = "db-head"  # folder of the upgraded dump inside the staging folder


@dataclass(frozen=True)
class Step:
    """One migration a restore runs: its revision and its one-line description."""

    revision: str
    description: str


@dataclass(frozen=True)
class HeadDump:
    """A backup's data at the live revision: the scratch database and its dump."""

    scratch: Path  # SQLite file holding the upgraded data
    tables: list  # manifest-style [{"name", "path" (relative to staging), "rows"}] in FK order
    schema: sa.MetaData  # the upgraded schema, generic types (loads into any engine)
    steps: list  # the Steps that ran


def alembic_config(config, connection=None):
    """Return an Alembic Config for our chain (plus MIGRATION_EXTRA_VERSIONS) on ``connection``."""
    from alembic.config import Config as AlembicConfig  # here: Alembic is slow to import

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    locations = [MIGRATIONS_DIR / "versions", *config.get("MIGRATION_EXTRA_VERSIONS", ())]
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def script_directory(config):
    """Return the Alembic ScriptDirectory of the chain this app knows."""
    from alembic.script import ScriptDirectory  # here: as in alembic_config

    return ScriptDirectory.from_config(alembic_config(config))


def head_revision(config):
    """Return the newest schema revision this app knows."""
    return script_directory(config).get_current_head()


def migration_steps(config, wanted, current, name="the backup", made_by="StinkyKitty ?"):
    """Return the Steps taking schema ``wanted`` to ``current``, oldest first ([] if equal).

    Raise SchemaMismatch when no migration path leads there: the backup is
    newer than this app, or the live database is not at this app's head.
    """
    if wanted == current:
        return []
    script = script_directory(config)
    known = {rev.revision for rev in script.walk_revisions()}
    head = script.get_current_head()
    if wanted not in known:
        raise SchemaMismatch(
            f"{name} was made by a newer {made_by} (schema {wanted}, this app knows up to "
            f"{head}): upgrade StinkyKitty, then restore"
        )
    if current is None or current not in known or current != head:
        raise SchemaMismatch(
            f"the database is at schema {current or 'none'}, this app at {head}: "
            "run `flask db upgrade` first, then restore"
        )
    path = [rev.revision for rev in script.iterate_revisions(current, "base")]  # newest first
    if wanted not in path:
        raise SchemaMismatch(
            f"{name} has schema {wanted}, not on the path to {current}: cannot migrate it"
        )
    path = list(script.iterate_revisions(current, wanted))  # ``wanted`` itself excluded
    return [Step(rev.revision, rev.doc or "") for rev in reversed(path)]


def restorability(config, revision):
    """Return how this app can restore a backup at ``revision``: (label, steps or None)."""
    try:
        steps = migration_steps(config, revision, head_revision(config))
    except SchemaMismatch:
        return "no: made by a newer StinkyKitty", None
    if not steps:
        return "yes", 0
    return f"through migrations ({len(steps)} step{'s' if len(steps) != 1 else ''})", len(steps)


def migrate(config, engine, revision):
    """Run Alembic on ``engine`` up to ``revision`` (our chain plus any extra locations)."""
    from alembic import command  # here: as in alembic_config

    with engine.connect() as conn:  # not begun: SQLite's foreign keys go off first (env.py)
        command.upgrade(alembic_config(config, conn), revision)
        conn.commit()


def generic_schema(engine):
    """Reflect ``engine``'s tables (without Alembic's) with generic, engine-neutral types."""
    schema = sa.MetaData()
    schema.reflect(engine)
    schema.remove(schema.tables["alembic_version"])
    for table in schema.tables.values():
        for column in table.columns:
            column.type = column.type.as_generic()
    return schema


def load_at_head(config, staging, manifest, steps, *, dialect, name="the backup", progress=None):
    """Load the extracted dump in ``staging`` at its revision, migrate it through ``steps``.

    The dump's values are checked as a restore into engine ``dialect`` (the
    live database's) checks them, before the scratch sees them.

    Return a HeadDump whose tables are dumped under ``staging/db-head``.
    Raise NotEnoughSpace, CorruptArchive if the dump does not fit its own
    revision's schema, or RestoreFailed naming the migration that failed (or
    what else broke). Nothing outside ``staging`` is touched.
    """
    staging = Path(staging)
    dump_bytes = sum(f["size"] for f in manifest["files"] if f["path"].startswith("db/"))
    # The scratch (about the dump's size, twice while batch mode copies a table) and its dump.
    check_space(3 * dump_bytes, staging, f"migrating {name}")
    scratch = staging / "scratch.sqlite"
    engine = scratch_engine(scratch)
    try:
        schema = _load_at_revision(config, engine, staging, manifest, name, dialect)
        for done, step in enumerate(steps, 1):
            try:
                migrate(config, engine, step.revision)
            except Exception as exc:
                raise RestoreFailed(
                    f"migration {step.revision} ({step.description}) failed on the data of "
                    f"{name}: {_first_line(exc)}; the database and media were left as they were"
                ) from exc
            if progress:
                progress(done, len(steps))
        schema = generic_schema(engine)
        out = staging / HEAD_DUMP
        out.mkdir()
        dump = dump_scratch(engine, out, schema.sorted_tables)
    except (BackupError, ArchiveError):
        raise
    except Exception as exc:  # the scratch's disk filled up, a file went missing...
        raise RestoreFailed(
            f"preparing {name} for this schema failed ({_first_line(exc)}); "
            "the database and media were left as they were"
        ) from exc
    finally:
        engine.dispose()
    tables = [
        {"name": t.table, "path": f"{HEAD_DUMP}/{t.path.name}", "rows": t.rows} for t in dump.tables
    ]
    return HeadDump(scratch=scratch, tables=tables, schema=schema, steps=list(steps))


def _load_at_revision(config, engine, staging, manifest, name, dialect):
    """Build the backup's own schema on the empty scratch and load its dump; return the schema."""
    revision = manifest["database"]["revision"]
    migrate(config, engine, revision)
    schema = generic_schema(engine)
    listed = {t["name"]: t for t in manifest["tables"]}
    if set(listed) != set(schema.tables):
        missing = sorted(set(schema.tables) - set(listed))
        extra = sorted(set(listed) - set(schema.tables))
        raise CorruptArchive(
            f"{name}: its tables do not match its schema {revision} "
            f"(missing {missing}, unknown {extra})"
        )
    entries = [(schema.tables[t["name"]], staging / t["path"]) for t in manifest["tables"]]
    max_row = config.get("RESTORE_MAX_ROW_BYTES", DEFAULT_MAX_ROW_BYTES)
    counts = load_scratch(engine, entries, dialect=dialect, max_row=max_row)
    for table in manifest["tables"]:
        if counts[table["name"]] != table["rows"]:
            raise CorruptArchive(
                f"{table['name']}: {counts[table['name']]} rows in the dump, "
                f"{table['rows']} in the manifest"
            )
    return schema


def _first_line(exc):
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def restorability_report(config, infos):
    """Judge whether the kept good backups (BackupInfos) can be restored by this app.

    Return {"restorable": n, "through_migrations": n, "not_restorable": [ids],
    "problem": a status problem when none of the good ones is, else None,
    "warnings": [text]}.
    """
    good = [info for info in infos if info.ok]
    labels = {
        info.backup_id: restorability(config, info.manifest["database"].get("revision"))[1]
        for info in good
    }
    refused = [backup_id for backup_id, steps in labels.items() if steps is None]
    migrating = [backup_id for backup_id, steps in labels.items() if steps]
    report = {
        "restorable": len(good) - len(refused),
        "through_migrations": len(migrating),
        "not_restorable": refused,
        "problem": None,
        "warnings": [],
    }
    if good and len(refused) == len(good):
        message = (
            f"none of the {len(good)} good backups can be restored by this app: they were made "
            "by a newer StinkyKitty (upgrade it, or make a backup now)"
        )
        report["problem"] = {
            "code": "unrestorable",
            "label": "UNRESTORABLE",
            "message": message,
            "summary": "no backup this app can restore",
        }
    elif refused:
        report["warnings"].append(
            f"{len(refused)} backup(s) were made by a newer StinkyKitty and cannot be restored "
            f"by this one: {', '.join(refused)}"
        )
    return report
