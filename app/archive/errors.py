"""Errors of the archive format; each message is one line a person can act on."""


class ArchiveError(Exception):
    """Base of every error about writing or reading an archive."""


class CorruptArchive(ArchiveError):
    """The archive is damaged or not one of ours (truncated, bad checksum, bad manifest)."""


class UnsafeArchive(CorruptArchive):
    """The archive holds what we never extract: links, devices, '..', unlisted members, a bomb."""


class NotEnoughSpace(ArchiveError):
    """Not enough free disk space, found before starting or when the disk filled up."""


class Unauthenticated(CorruptArchive):
    """The archive's authentication tag is missing or was not made with the given key.

    ``intact`` tells whether its checksums are otherwise intact.
    """

    def __init__(self, message: str, intact: bool = False) -> None:
        super().__init__(message)
        self.intact = intact
