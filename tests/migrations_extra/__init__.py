"""A test-only migration chain on top of ours: what later releases will do to old backups.

``versions/`` is added to the chain with the config key MIGRATION_EXTRA_VERSIONS
(only in the tests that want it). Every migration is written as docs/development.md
asks: batch mode, portable SQL, data migrations that read only the rows at hand.
"""

from pathlib import Path

VERSIONS = Path(__file__).resolve().parent / "versions"
FAILING = Path(__file__).resolve().parent.parent / "migrations_failing"
