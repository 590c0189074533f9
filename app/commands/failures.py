"""How every ``flask`` command fails: one line on stderr and the error's exit code.

An app error (``app.errors.StinkyKittyError`` and below) carries its exit
status; ``CommandGroup`` turns one raised by any of its commands into
``Error: <message>`` on stderr and that status. docs/backups.md lists them.
"""

import functools

import click
from flask.cli import AppGroup

from app.errors import FAILED, StinkyKittyError


class Failure(click.ClickException):
    """A ClickException with the exit status of the error it reports."""

    def __init__(self, message, exit_code=FAILED):
        super().__init__(message)
        self.exit_code = exit_code


def one_line(text):
    """Return ``text`` on one line (its lines joined by spaces)."""
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def failure(exc, hint=""):
    """Return the Failure that reports the app error ``exc`` (``hint`` added to its line)."""
    return Failure((one_line(exc) or type(exc).__name__) + hint, exc.exit_code)


def clear_errors(command):
    """Turn an app error raised by ``command`` into one line on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except StinkyKittyError as exc:
            raise failure(exc) from None

    return wrapper


class CommandGroup(AppGroup):
    """A command group whose every command fails with one line and the error's exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except StinkyKittyError as exc:
            raise failure(exc) from None
