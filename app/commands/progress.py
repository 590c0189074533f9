"""Progress bars for long commands, shown only when stderr is a terminal."""

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
            self.bar = None


class PhaseProgress:
    """A ``progress(phase, done, total)`` callback: one TerminalProgress bar per phase.

    ``labels`` maps a phase to its label; nothing is drawn unless ``enabled``.
    """

    def __init__(self, labels, enabled, stream=None):
        self.labels = labels
        self.enabled = enabled
        self.stream = stream
        self.phase = None
        self.bar = None

    def __call__(self, phase, done, total):
        if not self.enabled:
            return
        if phase != self.phase:
            self.close()
            self.phase = phase
            self.bar = TerminalProgress(self.labels.get(phase, phase), self.stream)
        self.bar(done, total)

    def close(self):
        """Finish the current bar."""
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
