"""Tasks that touch site data step aside while a restore runs (see ``app.coordination.running``)."""

import functools

from flask import current_app

from app.backup import PausedForRestore
from app.coordination import site_data_work

DEFAULT_RETRY_SECONDS = 30


def pauses_for_restore(run):
    """Wrap a bound task's body: register it as running, and retry it later during a restore."""

    @functools.wraps(run)
    def guarded(self, *args, **kwargs):
        config = current_app.config
        try:
            with site_data_work(config, self.name, self.request.id):
                return run(self, *args, **kwargs)
        except PausedForRestore as exc:
            countdown = config.get("TASK_RETRY_DURING_RESTORE", DEFAULT_RETRY_SECONDS)
            raise self.retry(exc=exc, countdown=countdown, max_retries=None) from None

    return guarded
