"""Click command groups, attached to ``flask`` by the top-level ``cli.py``."""

import json

import click


def echo_json(data):
    """Print ``data`` as indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, default=str))
