"""How the tests, the bench and the screenshot script start Debian's Chromium (no hub downloads).

``CHROMIUM`` (the environment variable) points at another build. The flags keep
a headless Chromium from reaching for the network it is not given.
"""

import os

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
