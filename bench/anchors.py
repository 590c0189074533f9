"""Our dump and load against each database's own tools, on the same database in the same run.

For each engine a data dir holds a copy of the corpus's database (SQLite: a
``.backup`` of it; MariaDB and PostgreSQL: a throw-away database filled by
restoring the corpus's backup). Then, alternating so that a neighbour's load
hits both alike:

- dump: ours (``dump_database``, JSON lines) against ``sqlite3 .backup`` and
  ``sqlite3 .dump | gzip``, ``mysqldump --single-transaction | gzip``,
  ``pg_dump -Fc``;
- load: ours (``load_database`` in one transaction, over the rows already
  there, as a restore does) against ``gunzip | sqlite3`` into a new file,
  ``gunzip | mysql`` and ``pg_restore -1`` into a new empty database.
"""

import os
import shutil
import subprocess
import uuid

import sqlalchemy as sa

from app.config import BACKUP_KEY_FILE
from bench.__main__ import MARIADB_SERVER, flask, probe, summary, timed

POSTGRES_SERVER = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ENGINES = ("sqlite", "mariadb", "postgresql")


def server_database(kind):
    """Create a throw-away MariaDB or PostgreSQL database; return (url, name, drop)."""
    server_url = MARIADB_SERVER if kind == "mariadb" else POSTGRES_SERVER
    name = f"sk_anchor_{uuid.uuid4().hex[:8]}"
    server = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        if kind == "mariadb":
            conn.exec_driver_sql(
                f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
        else:
            conn.exec_driver_sql(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")

    def drop():
        with server.connect() as conn:
            if kind == "postgresql":
                conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                )
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        server.dispose()

    url = sa.engine.make_url(server_url).set(database=name).render_as_string(False)
    return url, name, drop


def _native(kind, name, db_file, out):
    """Return {dump tool: (dump command, load tool or None, load command or None)}.

    A load command has ``{fresh}`` where the name of a new empty database goes.
    """
    if kind == "sqlite":
        fresh = out / "anchor-fresh.db"
        return {
            "sqlite3 .backup": (f"sqlite3 {db_file} \".backup '{out}/anchor.db'\"", None, None),
            "sqlite3 .dump | gzip": (
                f"sqlite3 {db_file} .dump | gzip > {out}/anchor.sql.gz",
                "gunzip | sqlite3",
                f"rm -f {fresh} && gunzip -c {out}/anchor.sql.gz | sqlite3 {fresh}",
            ),
        }
    if kind == "mariadb":
        login = "-h 127.0.0.1 -P 3306 -u root"
        return {
            "mysqldump | gzip": (
                f"mysqldump {login} --single-transaction {name} | gzip > {out}/anchor.sql.gz",
                "gunzip | mysql",
                f"gunzip -c {out}/anchor.sql.gz | mysql {login} {{fresh}}",
            )
        }
    login = "-h 127.0.0.1 -p 5432 -U postgres"
    return {
        "pg_dump -Fc": (
            f"pg_dump {login} -Fc -f {out}/anchor.dump {name}",
            "pg_restore -1",
            f"pg_restore {login} -1 -d {{fresh}} {out}/anchor.dump",
        )
    }


def _fill(out, kind, data_dir, backup_id):
    """Make a data dir holding the corpus's database on ``kind``; return (dir, env, name, drop)."""
    target = out / f"anchor-{kind}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    if kind == "sqlite":
        source = data_dir / "stinkykitty.db"
        copy = f".backup '{target / 'stinkykitty.db'}'"
        subprocess.run(["sqlite3", str(source), copy], check=True)
        return target, {}, None, lambda: None
    url, name, drop = server_database(kind)
    env = {"DATABASE_URL": url}
    flask(target, "db", "upgrade", env=env)
    shutil.copy(data_dir / BACKUP_KEY_FILE, target / BACKUP_KEY_FILE)  # the backup's key
    system = target / "backups" / "system"
    system.mkdir(parents=True)
    source = data_dir / "backups" / "system" / f"{backup_id}.tar.gz"
    os.link(source, system / source.name)
    probe("restore", target, backup_id, env=env)
    return target, env, name, drop


def measure_anchors(out, name, data_dir, backup_id, runs, results, engines=ENGINES):
    """Time our dump and load and the native tools' on each engine; add them to ``results``."""
    anchors = results[name].setdefault("anchors", {})
    for kind in engines:
        target, env, db_name, drop = _fill(out, kind, data_dir, backup_id)
        dumps = out / f"anchor-{kind}-dump"
        try:
            db_file = target / "stinkykitty.db"
            native = _native(kind, db_name, db_file, out)
            ours_dump, ours_load = [], []
            dump_times = {tool: [] for tool in native}
            load_times = {tool: [] for _d, tool, cmd in native.values() if cmd}
            for _ in range(runs):
                ours_dump.append(probe("dump", target, dumps, env=env)["seconds"])
                for tool, (dump_cmd, _tool, _cmd) in native.items():
                    dump_times[tool].append(timed(dump_cmd))
                ours_load.append(probe("load", target, dumps, env=env)["seconds"])
                for _dump, tool, load_cmd in native.values():
                    if load_cmd is None:
                        continue
                    if kind == "sqlite":
                        load_times[tool].append(timed(load_cmd))
                        continue
                    _url, fresh, drop_fresh = server_database(kind)
                    try:
                        load_times[tool].append(timed(load_cmd.format(fresh=fresh)))
                    finally:
                        drop_fresh()
            anchors[kind] = {
                "dump": summary(ours_dump),
                "load": summary(ours_load),
                "native_dump": {tool: summary(v) for tool, v in dump_times.items()},
                "native_load": {tool: summary(v) for tool, v in load_times.items()},
            }
        finally:
            drop()
            shutil.rmtree(target, ignore_errors=True)
            shutil.rmtree(dumps, ignore_errors=True)
            for leftover in ("anchor.db", "anchor.sql.gz", "anchor.dump", "anchor-fresh.db"):
                (out / leftover).unlink(missing_ok=True)
    return anchors
