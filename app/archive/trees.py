"""Folder trees of any depth, without recursion: create, walk and remove them a level at a time.

Python's own helpers recurse once per folder level (``Path.mkdir(parents=True)``,
``os.walk`` and ``shutil.rmtree`` before Python 3.12) and fail with a
RecursionError near a thousand levels, which a path of 4096 bytes can hold
twice over. These do the same work in loops. Files are created relative to
the folder above them (``openat``), never following a symbolic link, so an
extraction cannot be led outside its target and works whatever the length of
the target's own path.
"""

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from os import PathLike
from pathlib import Path
from typing import BinaryIO

from app.archive.errors import UnsafeArchive
from app.archive.space import disk_full_as

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class FileMaker:
    """Create new files at relative POSIX names under ``root``, making their folders as needed.

    The folder of the last file stays open, so the members of one folder cost
    one ``open`` each. Use as a context manager (it closes that folder).
    """

    def __init__(self, root: str | PathLike[str], disk_full_message: str) -> None:
        self._root = Path(root)
        self._disk_full = disk_full_message
        self._folder: tuple[tuple[str, ...], int] | None = (
            None  # (parts, fd) of the last folder used
        )

    def __enter__(self) -> "FileMaker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the folder kept open."""
        if self._folder is not None:
            os.close(self._folder[1])
            self._folder = None

    def open_new(self, name: str) -> BinaryIO:
        """Return a new file at ``name`` (checked safe by the caller) opened for writing."""
        parts = name.split("/")
        folder = self._open_folder(name, tuple(parts[:-1]))
        try:
            with disk_full_as(self._disk_full):
                return os.fdopen(os.open(parts[-1], _NEW_FILE, 0o640, dir_fd=folder), "wb")
        except FileExistsError:
            raise UnsafeArchive(f"refused member {name!r}: written twice") from None

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write ``data`` to a new file at ``name``."""
        with disk_full_as(self._disk_full), self.open_new(name) as out:
            out.write(data)

    def _open_folder(self, name: str, parts: tuple[str, ...]) -> int:
        if self._folder is not None and self._folder[0] == parts:
            return self._folder[1]
        self.close()
        fd = os.open(self._root, _DIR_FLAGS)
        try:
            for part in parts:
                with disk_full_as(self._disk_full), contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o750, dir_fd=fd)
                try:
                    inner = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:  # a file or a link where the folder should be
                    raise UnsafeArchive(
                        f"refused member {name!r}: its folder {part!r} cannot be opened "
                        f"({exc.strerror})"
                    ) from None
                os.close(fd)
                fd = inner
        except BaseException:
            os.close(fd)
            raise
        self._folder = (parts, fd)
        return fd


def make_dirs(path: str | PathLike[str], mode: int = 0o777) -> None:
    """Create the folder ``path`` and any missing folder above it (``mkdir -p``), in a loop.

    One ``mkdir`` when only the last folder is missing (or none); otherwise
    the folders are made one level at a time relative to the one above, so
    the work is linear in the depth, whatever the depth.
    """
    path = Path(path)
    try:
        os.mkdir(path, mode)
        return
    except FileExistsError:
        if path.is_dir():
            return
        raise
    except FileNotFoundError:
        pass
    top = path.parent
    while not top.exists():  # the deepest folder above that exists (few levels up, usually)
        if top.parent == top:
            raise FileNotFoundError(f"no folder above {path}")
        top = top.parent
    fd = os.open(top, _DIR_FLAGS)
    try:
        for part in path.relative_to(top).parts:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, mode, dir_fd=fd)
            inner = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)


def walk(
    top: str | PathLike[str], onerror: Callable[[OSError], object] | None = None
) -> Iterator[tuple[str, list[str], list[str]]]:
    """Yield (folder, subfolders, file names) under ``top`` as ``os.walk`` does, top down.

    The caller may prune or reorder ``subfolders`` in place. Symbolic links to
    folders are listed among the subfolders but not followed. ``onerror(OSError)``
    is called for a folder that cannot be listed (it is then skipped).
    """
    stack = [os.fspath(top)]
    while stack:
        folder = stack.pop()
        dirs: list[str] = []
        names: list[str] = []
        links: set[str] = set()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        is_dir = entry.is_dir()
                    except OSError:
                        is_dir = False
                    if is_dir:
                        dirs.append(entry.name)
                        if entry.is_symlink():
                            links.add(entry.name)
                    else:
                        names.append(entry.name)
        except OSError as exc:
            if onerror is not None:
                onerror(exc)
            continue
        yield folder, dirs, names
        stack.extend(os.path.join(folder, d) for d in reversed(dirs) if d not in links)


def remove_tree(path: str | PathLike[str], ignore_errors: bool = False) -> None:
    """Remove ``path`` and everything under it, whatever its depth (``rm -rf``), in a loop.

    Each folder's subfolders are first moved up into ``path`` itself (one
    rename each), so no folder is ever more than two levels down and no path
    grows with the depth of the tree. A symbolic link is removed, never followed.
    """
    try:
        _remove_tree(Path(path))
    except OSError:
        if not ignore_errors:
            raise


def _remove_tree(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode):
        os.unlink(path)
        return
    root = os.open(path, _DIR_FLAGS)
    try:
        pending: list[str | None] = [None]
        taken, serial = set(os.listdir(root)), 0
        while pending:
            name = pending.pop()
            fd = root if name is None else os.open(name, _DIR_FLAGS, dir_fd=root)
            try:
                for entry in list(os.scandir(fd)):
                    if name is None and entry.is_dir(follow_symlinks=False):
                        pending.append(entry.name)
                    elif entry.is_dir(follow_symlinks=False):
                        while (moved := f".rm-{serial}") in taken:
                            serial += 1
                        taken.add(moved)
                        os.rename(entry.name, moved, src_dir_fd=fd, dst_dir_fd=root)
                        pending.append(moved)
                    else:
                        os.unlink(entry.name, dir_fd=fd)
            finally:
                if fd != root:
                    os.close(fd)
            if name is not None:
                os.rmdir(name, dir_fd=root)
    finally:
        os.close(root)
    os.rmdir(path)
