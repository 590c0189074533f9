"""Wait for a condition with a deadline, never for a fixed time."""

import time


def wait_for(predicate, timeout=60, interval=0.005, what="the condition"):
    """Return what ``predicate`` returns once it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
