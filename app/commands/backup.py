"""``flask backup ...``: make, list, verify, restore, delete and prune system backups.

The work is done by ``app.backup.system``; these commands parse arguments,
ask for confirmation and print. Any app error becomes one line on stderr and
its exit status (``app.commands.failures``). Progress bars appear only on a
terminal and never with ``--json``.
"""

import sys

import click
from flask import current_app

from app.backup import (
    DamagedBackup,
    backup_path,
    backup_status,
    backups_dir,
    delete_backup,
    list_backups,
    notify,
    preview_retention,
    read_info,
    read_results,
    restore_backup,
    run_backup,
    verification_overdue,
)
from app.backup.offsite import local_or_fetch
from app.backup.restore import head_revision, migration_steps, restorability
from app.commands import echo_json
from app.commands.backupgroup import (
    RESTORE_PROMPT,
    RESTORE_PROMPT_UNAUTHENTICATED,
    allow_unauthenticated_option,
    backup_cli,
    clear_errors,
    confirm,
    describe_backup,
    json_option,
    progress_for,
)
from app.extensions import db
from app.humanize import human_age, human_ago, human_size, human_time
from app.models import parse_utc, utcnow


@backup_cli.command("list")
@click.option("--remote", is_flag=True, help="List the off-site copies instead.")
@json_option
@clear_errors
def list_command(remote, as_json):
    """List backups, newest first: id, size, age, database, counts."""
    if remote:
        from app.commands.offsite import print_remote_list  # it builds on this module

        return print_remote_list(as_json)
    now = utcnow()
    infos = list_backups(current_app.config)
    results = read_results(current_app.config)
    if as_json:
        kept_by = preview_retention(current_app.config, infos=infos).kept_by
        echo_json(
            [
                {
                    **info.to_dict(now),
                    **_restorable(info),
                    "verification": results.get(info.backup_id),
                    "kept_by": kept_by[info.backup_id],
                }
                for info in infos
            ]
        )
        return
    if not infos:
        click.echo(f"No backups in {backups_dir(current_app.config)}.")
        return
    click.echo(f"{'ID':<30} {'SIZE':>10} {'AGE':>12}  {'DATABASE':<16} {'ROWS':>8} {'FILES':>6}")
    for info in infos:
        age = human_age((now - info.created_at).total_seconds())
        if not info.ok:
            click.echo(
                f"{info.backup_id:<30} {human_size(info.size):>10} {age:>12}  DAMAGED: {info.error}"
            )
            continue
        d = info.to_dict()
        database = f"{d['dialect']} {d['revision']}"
        click.echo(
            f"{info.backup_id:<30} {human_size(info.size):>10} {age:>12}  "
            f"{database:<16} {d['rows']:>8} {d['files']:>6}"
        )
        restorable = _restorable(info)["restorable"]
        if restorable != "yes":
            click.echo(f"{'':<30} restorable: {restorable}")
    click.echo("\nLast full verification (every checksum and the tag):")
    for info in infos:
        click.echo(f"  {info.backup_id:<30} {describe_verification(results, info.backup_id, now)}")


def _restorable(info):
    """Return {"restorable": label, "migration_steps": n or None} of a backup."""
    if not info.ok:
        return {"restorable": "no: damaged", "migration_steps": None}
    revision = info.manifest["database"].get("revision")
    label, steps = restorability(current_app.config, revision)
    return {"restorable": label, "migration_steps": steps}


def describe_verification(results, backup_id, now):
    """Return the last verification of ``backup_id`` in a few words."""
    result = results.get(backup_id)
    if result is None:
        return "never verified"
    age = human_ago((now - parse_utc(result["verified_at"])).total_seconds())
    overdue = " (overdue)" if verification_overdue(results, backup_id, now) else ""
    if not result.get("ok"):
        return f"DAMAGED, found {age}: {result.get('error')}"
    if not result.get("authenticated"):
        return f"intact, not authenticated (format 1), {age}{overdue}"
    return f"intact and authenticated, {age}{overdue}"


@backup_cli.command("create")
@click.option("--force", is_flag=True, help="Write a backup even if nothing changed.")
@json_option
@clear_errors
def create_command(force, as_json):
    """Make a system backup now."""
    with progress_for(as_json) as progress:
        # Recorded like the scheduled runs (see app.backup.runs); errors print below.
        _, outcome = run_backup(
            current_app.config,
            db.engine,
            trigger="cli",
            skip_unchanged=False if force else None,
            progress=progress,
            log_errors=False,
        )
    if as_json:
        echo_json(outcome.to_dict())
        return
    if outcome.created:
        click.echo(
            f"Created backup {outcome.backup_id}: {human_size(outcome.size)}, "
            f"{sum(outcome.counts.values())} rows, {outcome.files} media files, "
            f"in {outcome.duration:.1f} s."
        )
    else:
        click.echo(
            f"Nothing changed since backup {outcome.backup_id}: it is still current. "
            "Use --force to write a copy anyway."
        )
    if outcome.pruned:
        click.echo(f"Deleted by retention: {', '.join(outcome.pruned)}.")


@backup_cli.command("status")
@json_option
@clear_errors
def status_command(as_json):
    """Show count, sizes, free disk, the newest backup and the next run; exit 1 when unhealthy."""
    status = backup_status(current_app.config)
    if as_json:
        echo_json(status.to_dict())
    else:
        _print_status(status)
    if not status.ok:
        for problem in status.problems:
            click.echo(f"{problem.label}: {problem.message}", err=True)
        sys.exit(1)


def _print_status(status):
    damaged = f" ({len(status.damaged)} damaged)" if status.damaged else ""
    total = sum(info.size for info in status.backups)
    click.echo(
        f"Backups:    {len(status.good)} good{damaged}, {human_size(total)} in {status.folder}"
    )
    click.echo(f"Free disk:  {human_size(status.free_bytes)}")
    newest = status.newest
    if newest:
        made = (status.checked_at - newest.created_at).total_seconds()
        click.echo(
            f"Newest:     {newest.backup_id} ({newest.to_dict()['dialect']}, made "
            f"{human_ago(made)}, still current {human_ago(status.age_seconds)})"
        )
    else:
        click.echo("Newest:     none")
    if status.next_run:
        wait = human_age((status.next_run.replace(tzinfo=None) - status.checked_at).total_seconds())
        click.echo(f"Next run:   {human_time(status.next_run)} (in {wait})")
    if status.running:
        running = status.running
        click.echo(f"Running:    {running['operation']} since {human_time(running['started_at'])}")
    _print_last_runs(status)


def _print_last_runs(status):
    last, failure = status.last_run, status.last_failure
    if last is None:
        click.echo("Last run:   none recorded")
        return
    click.echo(f"Last run:   {_describe_run(last)}")
    if failure and failure != last:
        click.echo(f"Last fail:  {_describe_run(failure)}")
    for warning in status.warnings:
        click.echo(f"Warning:    {warning}")


def _describe_run(run):
    text = f"{run['outcome']} ({run['trigger']}, started {human_time(run['started_at'])}"
    if run.get("duration") is not None:
        text += f", {run['duration']:.1f} s"
    text += ")"
    if run.get("backup_id"):
        text += f" {run['backup_id']}"
    if run.get("pruned"):
        text += f", retention deleted {len(run['pruned'])}"
    if run.get("error"):
        text += f": {run['error']}"
    return text


def _describe(info):
    d = info.to_dict(utcnow())
    counts = ", ".join(f"{name} {rows}" for name, rows in d["counts"].items())
    return (
        f"{describe_backup(info)}:\n"
        f"  rows:  {counts}\n"
        f"  media: {d['files']} files, {human_size(d['media_bytes'])}"
    )


@backup_cli.command("restore")
@click.argument("backup_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--site", metavar="SUBDOMAIN", default=None, help="Restore only this site; no other changes."
)
@allow_unauthenticated_option
@json_option
@clear_errors
def restore_command(backup_id, yes, site, allow_unauthenticated, as_json):
    """Replace the database and media with a backup (asks first unless --yes)."""
    config = current_app.config
    path = local_or_fetch(config, backup_id, allow_unauthenticated=allow_unauthenticated)
    info = read_info(path)
    if not info.ok:
        raise DamagedBackup(info.error)
    if site is not None:
        from app.commands.siterestore import restore_one_site

        restore_one_site(
            config,
            info,
            site,
            yes=yes,
            as_json=as_json,
            allow_unauthenticated=allow_unauthenticated,
        )
        return
    revision = info.manifest["database"].get("revision")
    head = head_revision(config)
    made_by = f"StinkyKitty {info.manifest.get('app_version', '?')}"
    steps = migration_steps(config, revision, head, info.path.name, made_by)
    if not yes:
        click.echo(_describe(info), err=as_json)
        if steps:
            click.echo(
                f"  schema: {len(steps)} migration(s) will run ({revision} -> {head}) on a "
                "scratch copy before anything live changes",
                err=as_json,
            )
        prompt = RESTORE_PROMPT_UNAUTHENTICATED if allow_unauthenticated else RESTORE_PROMPT
        if not confirm(prompt, err=as_json):
            click.echo("Restore cancelled; nothing changed.", err=True)
            sys.exit(1)
    told = notify.restore_reported(config, started_by=notify.BY_CLI, backup_id=info.backup_id)
    with told, progress_for(as_json) as progress:
        outcome = restore_backup(
            config,
            db.engine,
            info.backup_id,
            progress=progress,
            allow_unauthenticated=allow_unauthenticated,
        )
    if as_json:
        echo_json(outcome.to_dict())
        return
    migrated = f", through {len(outcome.migrations)} migrations" if outcome.migrations else ""
    click.echo(
        f"Restored backup {outcome.backup_id}: {sum(outcome.counts.values())} rows, "
        f"{outcome.files} media files{migrated}, in {outcome.duration:.1f} s."
    )
    if outcome.count_mismatches:
        click.echo(
            f"Warning: row counts differ from the manifest: {outcome.count_mismatches}", err=True
        )


@backup_cli.command("delete")
@click.argument("backup_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@clear_errors
def delete_command(backup_id, yes):
    """Delete one backup."""
    config = current_app.config
    info = read_info(backup_path(config, backup_id))
    if not yes:
        state = "DAMAGED" if not info.ok else f"made {info.created_at:%Y-%m-%d %H:%M} UTC"
        if not confirm(f"Delete backup {info.backup_id} ({human_size(info.size)}, {state})? (y/n)"):
            click.echo("Nothing deleted.", err=True)
            sys.exit(1)
    delete_backup(config, info.backup_id)
    click.echo(f"Deleted backup {info.backup_id}.")
