"""``flask backup ...``: make, list, verify, restore, delete and prune system backups.

The work is done by ``app.backup.system``; these commands parse arguments,
ask for confirmation and print. Any BackupError becomes one line on stderr and
exit status 1. Progress bars appear only on a terminal and never with ``--json``.
"""

import datetime as dt
import functools
import sys

import click
from flask import current_app

from app.archive.space import human_size
from app.backup import catalog, health, runs, system, verification
from app.backup.errors import BackupError, Unauthenticated
from app.commands import echo_json
from app.extensions import db
from app.models.types import utcnow

RESTORE_PROMPT = "Restore will overwrite database. Continue? (y/n)"
RESTORE_PROMPT_UNAUTHENTICATED = (
    "Restore will overwrite database with an archive NOT authenticated by this server's "
    "BACKUP_KEY. Continue? (y/n)"
)
UNAUTHENTICATED_HINT = (
    "; if you trust where it comes from (made before archives were authenticated, or on "
    "another server), run again with --allow-unauthenticated"
)
allow_unauthenticated_option = click.option(
    "--allow-unauthenticated",
    is_flag=True,
    help="Accept an archive without this server's authentication tag (older or foreign).",
)
PHASES = {
    "dump": "Dumping tables  ",
    "write": "Writing archive ",
    "verify": "Verifying       ",
    "extract": "Extracting      ",
    "load": "Loading tables  ",
}
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group("backup")
def backup_cli():
    """Make, list, verify, restore and delete system backups."""


def clear_errors(command):
    """Turn a BackupError into one line on stderr and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except Unauthenticated as exc:
            raise click.ClickException(str(exc) + UNAUTHENTICATED_HINT) from None
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


class Progress:
    """A ``progress(phase, done, total)`` callback drawing one bar per phase on a terminal."""

    def __init__(self, enabled):
        self.enabled = enabled
        self.phase = None
        self.bar = None

    def __call__(self, phase, done, total):
        if not self.enabled:
            return
        if phase != self.phase:
            self.close()
            self.phase = phase
            self.bar = click.progressbar(
                length=total, label=PHASES.get(phase, phase), file=sys.stderr
            )
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self):
        """Finish the current bar."""
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress_for(as_json):
    """Return a Progress that draws only on a terminal and never in JSON mode."""
    return Progress(enabled=not as_json and sys.stderr.isatty())


def human_age(seconds):
    """Return an age like "45 s", "12 min", "5 h 3 min", "3 d 4 h"."""
    seconds = int(seconds)
    if seconds < 0:
        return "in the future"
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def confirm(question, err=False):
    """Ask ``question`` exactly as written; return True for y/yes."""
    answer = click.prompt(question, default="", show_default=False, prompt_suffix=" ", err=err)
    return answer.strip().lower() in ("y", "yes")


def next_run(config, now):
    """Return when the nightly backup runs next (aware UTC), from BACKUP_SCHEDULE."""
    from celeryconfig import parse_crontab

    if config.get("BACKUP_INTERVAL_SECONDS"):  # the test-only interval schedule
        return now.replace(tzinfo=dt.UTC) + dt.timedelta(seconds=config["BACKUP_INTERVAL_SECONDS"])
    schedule = parse_crontab(config["BACKUP_SCHEDULE"])
    celery_app = current_app.extensions.get("celery")
    if celery_app is not None:
        schedule.app = celery_app  # its timezone is BACKUP_TIMEZONE
    aware = now.replace(tzinfo=dt.UTC)
    schedule.nowfun = lambda: aware
    return aware + schedule.remaining_estimate(aware)


@backup_cli.command("list")
@json_option
@clear_errors
def list_command(as_json):
    """List backups, newest first: id, size, age, database, counts."""
    now = utcnow()
    infos = system.list_backups(current_app.config)
    results = verification.read_results(current_app.config)
    if as_json:
        echo_json(
            [{**info.to_dict(now), "verification": results.get(info.backup_id)} for info in infos]
        )
        return
    if not infos:
        click.echo(f"No backups in {catalog.backups_dir(current_app.config)}.")
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
    click.echo("\nLast full verification (every checksum and the tag):")
    for info in infos:
        click.echo(f"  {info.backup_id:<30} {describe_verification(results, info.backup_id, now)}")


def describe_verification(results, backup_id, now):
    """Return the last verification of ``backup_id`` in a few words."""
    result = results.get(backup_id)
    if result is None:
        return "never verified"
    age = human_age((now - catalog.parse_time(result["verified_at"])).total_seconds())
    overdue = " (overdue)" if verification.verification_overdue(results, backup_id, now) else ""
    if not result.get("ok"):
        return f"DAMAGED, found {age} ago: {result.get('error')}"
    if not result.get("authenticated"):
        return f"intact, not authenticated (format 1), {age} ago{overdue}"
    return f"intact and authenticated, {age} ago{overdue}"


@backup_cli.command("create")
@click.option("--force", is_flag=True, help="Write a backup even if nothing changed.")
@json_option
@clear_errors
def create_command(force, as_json):
    """Make a system backup now."""
    with progress_for(as_json) as progress:
        # Recorded like the scheduled runs (see app.backup.runs); errors print below.
        _, outcome = runs.run_backup(
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
    """Show count, sizes, free disk, the newest backup and the next run; exit 1 when stale."""
    config = current_app.config
    now = utcnow()
    status = system.backup_status(config)
    checked = health.backup_health(config)  # also judges the last run (app.backup.health)
    status.update({key: checked[key] for key in health.VERDICT_KEYS})
    try:
        upcoming = next_run(config, now)
        status["next_run"] = upcoming.isoformat()
    except ValueError as exc:
        upcoming, status["next_run"] = None, None
        status["schedule_error"] = str(exc)
    if as_json:
        echo_json(status)
    else:
        _print_status(status, upcoming, now)
    if not status["ok"]:
        for problem in status["problems"]:
            click.echo(f"{problem['label']}: {problem['message']}", err=True)
        sys.exit(1)


def _print_status(status, upcoming, now):
    damaged = f" ({len(status['damaged'])} damaged)" if status["damaged"] else ""
    click.echo(
        f"Backups:    {status['count']} good{damaged}, {human_size(status['total_size'])} "
        f"in {status['folder']}"
    )
    click.echo(f"Free disk:  {human_size(status['free_bytes'])}")
    newest = status["newest"]
    if newest:
        confirmed = human_age(status["age_seconds"])
        click.echo(
            f"Newest:     {newest['id']} ({newest['dialect']}, made "
            f"{human_age(newest['age_seconds'])} ago, still current {confirmed} ago)"
        )
    else:
        click.echo("Newest:     none")
    if upcoming:
        wait = human_age((upcoming.replace(tzinfo=None) - now).total_seconds())
        click.echo(f"Next run:   {upcoming:%Y-%m-%d %H:%M} UTC (in {wait})")
    if status["running"]:
        running = status["running"]
        click.echo(f"Running:    {running['operation']} since {running['started_at']} UTC")
    _print_last_runs(status)


def _print_last_runs(status):
    last, failure = status["last_run"], status["last_failure"]
    if last is None:
        click.echo("Last run:   none recorded")
        return
    click.echo(f"Last run:   {_describe_run(last)}")
    if failure and failure != last:
        click.echo(f"Last fail:  {_describe_run(failure)}")
    for warning in status["warnings"]:
        click.echo(f"Warning:    {warning}")


def _describe_run(run):
    text = f"{run['outcome']} ({run['trigger']}, started {run['started_at']}"
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
        f"Backup {info.backup_id}, made {info.created_at:%Y-%m-%d %H:%M:%S} UTC "
        f"({human_age(d['age_seconds'])} ago) by StinkyKitty {d['app_version']} on "
        f"{d['dialect']} (schema {d['revision']}):\n"
        f"  rows:  {counts}\n"
        f"  media: {d['files']} files, {human_size(d['media_bytes'])}"
    )


@backup_cli.command("restore")
@click.argument("backup_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@allow_unauthenticated_option
@json_option
@clear_errors
def restore_command(backup_id, yes, allow_unauthenticated, as_json):
    """Replace the database and media with a backup (asks first unless --yes)."""
    config = current_app.config
    info = catalog.read_info(catalog.backup_path(config, backup_id))
    if not info.ok:
        raise BackupError(info.error)
    if not yes:
        click.echo(_describe(info), err=as_json)
        prompt = RESTORE_PROMPT_UNAUTHENTICATED if allow_unauthenticated else RESTORE_PROMPT
        if not confirm(prompt, err=as_json):
            click.echo("Restore cancelled; nothing changed.", err=True)
            sys.exit(1)
    with progress_for(as_json) as progress:
        outcome = system.restore_backup(
            config,
            db.engine,
            info.backup_id,
            progress=progress,
            allow_unauthenticated=allow_unauthenticated,
        )
    if as_json:
        echo_json(outcome.to_dict())
        return
    click.echo(
        f"Restored backup {outcome.backup_id}: {sum(outcome.counts.values())} rows, "
        f"{outcome.files} media files, in {outcome.duration:.1f} s."
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
    info = catalog.read_info(catalog.backup_path(config, backup_id))
    if not yes:
        state = "DAMAGED" if not info.ok else f"made {info.created_at:%Y-%m-%d %H:%M} UTC"
        if not confirm(f"Delete backup {info.backup_id} ({human_size(info.size)}, {state})? (y/n)"):
            click.echo("Nothing deleted.", err=True)
            sys.exit(1)
    system.delete_backup(config, info.backup_id)
    click.echo(f"Deleted backup {info.backup_id}.")
