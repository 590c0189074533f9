"""``make run``'s process manager: honcho, started only when this data dir and port are free.

``python -m app.supervise KILL_WAIT start -f Procfile`` checks first that no other
``make run`` serves the same data dir (a lock on ``<data dir>/run.lock``, held
until honcho ends) and that the web server's port can be bound, so a second
start says why in one line and exits 3 (busy) before any worker or beat touches the
data. Then it runs honcho, which waits up to KILL_WAIT seconds for a process to
stop on Ctrl-C (its own 5 s are shorter than a Celery worker's warm shutdown)
and exits with the code of the first process that ended.
"""

import fcntl
import os
import socket
import sys
from pathlib import Path

from dotenv import dotenv_values

from app.errors import BUSY, StinkyKittyError


class CannotStart(StinkyKittyError):
    """Another ``make run`` or another server is in the way."""

    exit_code = BUSY


def _settings():
    """Return the environment as the app reads it (a ``.env`` file, the environment winning)."""
    env = {**dotenv_values(".env"), **os.environ}
    return {k: v for k, v in env.items() if v not in (None, "")}


def hold_data_dir(data_dir):
    """Lock ``data_dir`` for this process's lifetime; return the open lock file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = open(data_dir / "run.lock", "a")  # noqa: SIM115 (held until the process ends)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise CannotStart(
            f"Another `make run` is using the data dir {data_dir}: stop it first (Ctrl-C in "
            "its terminal), or give this one its own: STINKY_DATA_DIR=/some/dir make run"
        ) from None
    return lock


def check_port(host, port):
    """Raise CannotStart unless ``host:port`` can be bound, as the web server will."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CannotStart(
                f"Port {port} on {host} is taken ({exc.strerror}): stop what listens there, "
                f"or start on another port: PORT={port + 1} make run"
            ) from None


def main(argv):
    """Check the data dir and port, then run honcho with ``argv`` (KILL_WAIT, then its own)."""
    import honcho.command
    import honcho.manager

    settings = _settings()
    data_dir = Path(settings.get("STINKY_DATA_DIR", "instance")).resolve()
    port = int(settings.get("PORT", 5000))
    try:
        lock = hold_data_dir(data_dir)
        check_port("127.0.0.1", port)
    except CannotStart as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return exc.exit_code
    honcho.manager.KILL_WAIT = float(argv[0])
    try:
        honcho.command.main(argv[1:])
    except SystemExit as done:
        return done.code
    finally:
        lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
