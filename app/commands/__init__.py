"""Click command groups, attached to ``flask`` by the top-level ``cli.py``."""

import json
from collections.abc import Sequence

import click


def echo_json(data):
    """Print ``data`` as indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, default=_plain))


def _plain(value):
    """Return what JSON writes for ``value``: a list for a sequence (a large file list), or text."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return str(value)
