"""Errors of the archive format; each message is one line a person can act on.

They are the app's errors too: ``ArchiveError`` stands under the root of
``app.errors``, a module that imports nothing, so the format stays standalone.
"""

from app.errors import DAMAGED, NO_ROOM, REFUSED, StinkyKittyError


class ArchiveError(StinkyKittyError):
    """Base of every error about writing or reading an archive."""


class CorruptArchive(ArchiveError):
    """The archive is damaged or not one of ours (truncated, bad checksum, bad manifest)."""

    exit_code = DAMAGED


class UnsafeArchive(CorruptArchive):
    """The archive holds what we never extract: links, devices, '..', unlisted members, a bomb."""

    exit_code = REFUSED


class NotEnoughSpace(ArchiveError):
    """Not enough free disk space, found before starting or when the disk filled up."""

    exit_code = NO_ROOM


class Unauthenticated(CorruptArchive):
    """The archive's authentication tag is missing or was not made with the given key.

    ``intact`` tells whether its checksums are otherwise intact.
    """

    def __init__(self, message: str, intact: bool = False) -> None:
        super().__init__(message)
        self.intact = intact
