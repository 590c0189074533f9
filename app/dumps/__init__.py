"""The database layer: a logical dump of every table and its load, on any of the three engines.

- ``dump``: the dump (one JSON-lines file per table, rows in key order) and
  the entry to its load; ``table`` writes one table's file;
- ``codecs``: how each column type's values are written and read back;
- ``valuetypes``: every value checked against its column before a load;
- ``lines``: a dump's lines read with a cap on one row;
- ``load``: the load, in one transaction; ``bindrows`` binds rows as an
  ``INSERT`` would; ``loaders/``: the fast path of each engine
  (``sqlite``, ``mysql``, ``postgresql``: COPY; ``setaside``: PostgreSQL's
  secondary indexes and foreign keys rebuilt after the rows).

Errors are backups' (``BackupError``) or the format's (``CorruptArchive``):
a dump is the database part of a backup. Imports nothing of ``app.backup``
or ``app.exports``.
"""

from app.dumps.codecs import column_decoder
from app.dumps.dump import (
    BATCH,
    DatabaseDump,
    TableDump,
    database_revision,
    dump_database,
    dump_filename,
    estimate_database_size,
    load_database,
)
from app.dumps.lines import DEFAULT_MAX_ROW_BYTES, read_lines
from app.dumps.loaders.setaside import DEFAULT_LOCK_TIMEOUT
from app.dumps.valuetypes import value_checks

__all__ = [
    "BATCH",
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_MAX_ROW_BYTES",
    "DatabaseDump",
    "TableDump",
    "column_decoder",
    "database_revision",
    "dump_database",
    "dump_filename",
    "estimate_database_size",
    "load_database",
    "read_lines",
    "value_checks",
]
