"""``flask backup notify [--test]``: the notification check from cron, and a test message.

The check is the one beat runs every NOTIFY_CHECK_INTERVAL (``app.backup.notify``):
problems that appeared, last past NOTIFY_REPEAT or cleared are told to NOTIFY_URLS.
"""

import sys

import click
from flask import current_app

from app.backup import notify
from app.backup.notify import notify_urls
from app.commands import echo_json
from app.commands.backupgroup import backup_cli, clear_errors, json_option

NO_URLS = "NOTIFY_URLS is not set: nobody is told of backup problems (see docs/operations.md)"


@backup_cli.command("notify")
@click.option("--test", "test", is_flag=True, help="Send a test message to every URL.")
@json_option
@clear_errors
def notify_command(test, as_json):
    """Tell NOTIFY_URLS of backup problems now (as beat does); --test: send a test message."""
    config = current_app.config
    if not notify_urls(config):
        raise click.ClickException(NO_URLS)
    if test:
        deliveries = notify.send_test(config)
        if as_json:
            echo_json([d.to_dict() for d in deliveries])
        for d in deliveries:
            if not as_json:
                line = f"delivered   {d.url}" if d.ok else f"FAILED      {d.url}: {d.error}"
                click.echo(line, err=not d.ok)
        if not all(d.ok for d in deliveries):
            sys.exit(1)
        return
    result = notify.check(config, wait=60.0)
    if result is None:
        click.echo("Another check is running; it tells what there is to tell.")
        return
    sent = [
        {"title": m.title, "kind": m.kind, "deliveries": [d.to_dict() for d in ds]}
        for m, ds in result.sent
    ]
    if as_json:
        echo_json(sent)
    elif not sent:
        click.echo(
            "Nothing new to tell: no problem appeared, lasted past NOTIFY_REPEAT or cleared."
        )
    for item in [] if as_json else sent:
        reached = sum(d["ok"] for d in item["deliveries"])
        click.echo(f"Sent: {item['title']} (delivered to {reached} of {len(item['deliveries'])})")
    for d in result.failures:
        click.echo(f"FAILED      {d.url}: {d.error}", err=True)
    if result.failures:
        sys.exit(1)
