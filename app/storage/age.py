"""Client-side encryption to age recipients (pyrage), streamed in both directions.

``encrypt_stream`` reads a plaintext stream and writes the age file to a
writer (e.g. ``ObjectStore.writer``) in chunks of 64 KiB, so nothing is held
whole in memory; ``decrypt_stream`` does the reverse with the identities of an
identity file (the ``AGE-SECRET-KEY-1...`` lines that ``age-keygen`` writes).
"""

from os import PathLike
from pathlib import Path
from typing import Any, Protocol

from app.errors import StinkyKittyError


class Readable(Protocol):
    """A binary stream to read from (a file, a download)."""

    def read(self, size: int = -1, /) -> bytes: ...


class Writable(Protocol):
    """A binary stream to write to (a file, ``ObjectStore.writer``)."""

    def write(self, data: bytes, /) -> int: ...


class EncryptionError(StinkyKittyError):
    """Recipients or identities are unusable, or a file does not decrypt with them."""


def parse_recipients(text: str | None) -> list[Any]:
    """Return the age recipients in ``text`` (separated by commas, spaces or new lines)."""
    import pyrage

    recipients: list[Any] = []
    for word in str(text or "").replace(",", " ").split():
        try:
            if word.startswith("age1"):
                recipients.append(pyrage.x25519.Recipient.from_str(word))
            else:
                recipients.append(pyrage.ssh.Recipient.from_str(word))
        except Exception as exc:
            raise EncryptionError(f"{word[:20]}... is not an age recipient ({exc})") from None
    if not recipients:
        raise EncryptionError("no age recipient given (they look like age1...)")
    return recipients


def load_identities(path: str | PathLike[str] | None) -> list[Any]:
    """Return the age identities in the identity file at ``path``."""
    import pyrage

    if not path:
        raise EncryptionError(
            "this copy is encrypted: set BACKUP_AGE_IDENTITY_FILE to the age identity file"
        )
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise EncryptionError(f"cannot read the age identity file {path}: {exc.strerror}") from None
    identities: list[Any] = []
    for line in lines:
        line = line.strip()
        if line.startswith("AGE-SECRET-KEY-"):
            try:
                identities.append(pyrage.x25519.Identity.from_str(line))
            except Exception as exc:
                raise EncryptionError(f"{path} holds a malformed age identity ({exc})") from None
    if not identities:
        raise EncryptionError(f"{path} holds no age identity (AGE-SECRET-KEY-1... lines)")
    return identities


def encrypt_stream(source: Readable, writer: Writable, recipients: list[Any]) -> None:
    """Encrypt everything readable from ``source`` into ``writer`` for ``recipients``."""
    import pyrage

    try:
        pyrage.encrypt_io(source, writer, recipients)
    except pyrage.EncryptError as exc:
        raise EncryptionError(f"could not encrypt: {exc}") from exc


def decrypt_stream(source: Readable, writer: Writable, identities: list[Any]) -> None:
    """Decrypt the age file readable from ``source`` into ``writer`` with ``identities``."""
    import pyrage

    try:
        pyrage.decrypt_io(source, writer, identities)
    except pyrage.DecryptError as exc:
        raise EncryptionError(
            f"could not decrypt ({exc}): the identity does not match the recipients "
            "the copy was encrypted to, or the copy is damaged"
        ) from exc
