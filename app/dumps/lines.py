"""Reading a dump file's lines in time linear in its size, with a cap on one row.

A line is one row (see ``app.dumps.dump``). A row longer than
``RESTORE_MAX_ROW_BYTES`` is refused with one line naming the table and the
line, before more than about that much of it is held: what a restore holds in
memory for one row is bounded whatever the file holds. The pieces of a long
line are kept in a list and joined once, never appended to one another.
"""

from pathlib import Path

from app.archive import CorruptArchive
from app.errors import REFUSED, BackupError

DEFAULT_MAX_ROW_BYTES = 64 * 1024 * 1024  # RESTORE_MAX_ROW_BYTES unless configured
BLOCK_BYTES = 1024 * 1024  # dump text read at once


class RowTooLong(BackupError, CorruptArchive):
    """A dump line is longer than RESTORE_MAX_ROW_BYTES."""

    exit_code = REFUSED


def read_blocks(path, table, max_row=DEFAULT_MAX_ROW_BYTES, block=BLOCK_BYTES):
    """Yield ``path``'s bytes in blocks of whole lines of about ``block`` bytes (a long line whole).

    ``table`` names the table in the error raised for a line over ``max_row``
    bytes (its line feed aside).
    """
    path = Path(path)
    before = 0  # lines in the blocks already yielded
    with open(path, "rb") as source:
        pieces, held = [], 0  # the start of a line not ended yet
        while data := source.read(block):
            cut = data.rfind(b"\n") + 1
            if not cut:
                pieces.append(data)
                held += len(data)
                if held > max_row:
                    _refuse(path, table, before + 1, max_row)
                continue
            pieces.append(data[:cut])
            out = b"".join(pieces)
            if held + cut > max_row + 1:  # a line in it may be too long
                _check_lines(out, path, table, before, max_row)
            before += out.count(b"\n")
            yield out
            pieces, held = [data[cut:]], len(data) - cut
        if held:
            rest = b"".join(pieces)
            if held > max_row:
                _check_lines(rest, path, table, before, max_row)
            yield rest


def read_lines(path, table, max_row=DEFAULT_MAX_ROW_BYTES, block=BLOCK_BYTES):
    """Yield ``path``'s lines (each with its line feed, the last one maybe without)."""
    for chunk in read_blocks(path, table, max_row, block):
        start, end = 0, len(chunk)
        while start < end:
            stop = chunk.find(b"\n", start) + 1 or end
            yield chunk[start:stop]
            start = stop


def _check_lines(data, path, table, before, max_row):
    start, lineno = 0, before + 1
    while start < len(data):
        stop = data.find(b"\n", start)
        stop = len(data) if stop < 0 else stop
        if stop - start > max_row:
            _refuse(path, table, lineno, max_row)
        start, lineno = stop + 1, lineno + 1


def _refuse(path, table, lineno, max_row):
    raise RowTooLong(
        f"table {table}, row {lineno}: longer than RESTORE_MAX_ROW_BYTES ({max_row:,} bytes) "
        f"({Path(path).name} line {lineno})"
    )
