"""A progress bar for long commands, shown only when stderr is a terminal."""

import sys

import click


class TerminalProgress:
    """A ``progress(done, total)`` callback that draws a bar on a TTY and stays silent elsewhere."""

    def __init__(self, label, stream=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.bar = None
        self.done = 0

    def __enter__(self):
        return self

    def __call__(self, done, total):
        if not self.stream.isatty():
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=self.stream)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
