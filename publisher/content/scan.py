"""The content folder walked as data, not as a file system to trust (PITFALLS 69).

Only regular files are read. A symlink is followed only when its target stays inside the content
folder; a folder met twice (a loop, or a link to a folder already walked) is walked once; a file
over the size limit is refused by its size before it is opened. Each refusal is a problem of
that entry: the walk never raises, so one odd entry never stops a publish, and nothing here can
block (a FIFO is never opened by the walk, and opened without blocking by :func:`read_bounded`).
"""

from __future__ import annotations

import errno
import os
import stat
import unicodedata
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from publisher.errors import ConfigError
from publisher.models import Problem

CONTENT_SUFFIXES = frozenset({".md", ".markdown", ".html", ".htm", ".txt"})
TEMPORARY_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".swp", ".swx", ".crdownload", "~")
# The path a file is opened by is always its real path, so O_NOFOLLOW refuses a symlink that
# was swapped in after the walk; O_NONBLOCK makes opening a swapped-in FIFO return at once.
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
_REGULAR_ONLY = "content/ takes regular files only; remove it"
_CHUNK = 1 << 20
Folder = tuple[str, str, os.stat_result]  # what to list, the prefix of its names, its stat
_LINK_HINT = "point it at a file inside content/, or remove it"
_CANNOT_READ = ("cannot read", "check it and its permissions")


@dataclass(frozen=True)
class ContentFile:
    """A regular file under ``content/`` to read.

    ``path`` is what to open: the file's real path, a symlink already resolved (inside the
    folder). ``relative`` is the name the operator sees under ``content/``.
    """

    path: str
    relative: str
    mtime_ns: int
    size: int


class Refused(Exception):
    """A content file that is not read or not published, with why, what to do, and the
    front-matter field at fault when there is one."""

    def __init__(self, reason: str, hint: str = "", field: str = "") -> None:
        super().__init__(reason)
        self.reason, self.hint, self.field = reason, hint, field


def is_temporary(name: str) -> bool:
    """Editor swap files, partial downloads and hidden files are never content."""
    return name.startswith((".", "#", "~")) or name.endswith(TEMPORARY_SUFFIXES)


def scan(content_dir: Path, max_bytes: int) -> Iterator[ContentFile | Problem]:
    """Every content file under ``content_dir``, and a problem for each entry not to read.

    A problem about a whole folder (one that cannot be listed) has a path ending in ``/``: the
    files under it are unknown this run, not gone. Real folders are walked before symlinked
    ones, so a file reached both ways keeps its real name. Plain strings and ``scandir`` keep a
    scan of ten thousand files to a few tens of ms.

    :raises ConfigError: when the content folder itself cannot be read — not a problem of some
        file, and nothing may be taken for withdrawn because of it.
    """
    return _Walk(os.path.realpath(content_dir), max_bytes).run()


@dataclass
class _Walk:
    """One walk: folders to visit, and the folders already walked by ``(st_dev, st_ino)``."""

    root: str
    max_bytes: int
    walked: dict[tuple[int, int], str] = field(default_factory=dict)
    real: list[Folder] = field(default_factory=list)  # a stack: depth first, in name order
    linked: deque[Folder] = field(default_factory=deque)  # once every real folder is walked

    def run(self) -> Iterator[ContentFile | Problem]:
        try:
            top = os.stat(self.root)
        except OSError as exc:
            raise self._unreadable(exc) from exc
        self.real.append((self.root, "", top))
        while self.real or self.linked:
            yield from self._folder(*(self.real.pop() if self.real else self.linked.popleft()))

    def _unreadable(self, exc: OSError) -> ConfigError:
        reason = f"content.dir {self.root}: cannot read the folder: {exc.strerror}"
        return ConfigError(reason, "create it, or point content.dir at the folder of articles")

    def _folder(
        self, path: str, prefix: str, found: os.stat_result
    ) -> Iterator[ContentFile | Problem]:
        """The entries of one folder; its subfolders are queued, not recursed into, so depth
        costs no stack."""
        key = (found.st_dev, found.st_ino)
        if key in self.walked:
            reason = f"the same folder as {self.walked[key]}; not walked again"
            hint = "remove the symlink: the files it leads to are read already"
            yield Problem(prefix.rstrip("/"), reason, hint, "warning")
            return
        self.walked[key] = prefix or "content/"
        try:
            with os.scandir(path) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            if not prefix:
                raise self._unreadable(exc) from exc
            hint = "check its permissions; the files in it are not read"
            yield Problem(prefix, f"cannot read this folder: {exc.strerror}", hint)
            return
        folders: list[Folder] = []
        for entry in entries:
            if not is_temporary(entry.name):
                yield from self._entry(entry, prefix + entry.name, folders)
        self.real.extend(reversed(folders))

    def _entry(
        self, entry: os.DirEntry[str], relative: str, folders: list[Folder]
    ) -> Iterator[ContentFile | Problem]:
        """One entry: a file to read, a folder to walk later, or its problem."""
        if not _printable_name(entry.name):
            shown = relative.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            reason = "the name is not UTF-8 text or holds control characters; not read"
            yield Problem(repr(shown)[1:-1], reason, "rename it")
            return
        path, linked = entry.path, False
        try:
            if linked := entry.is_symlink():
                path = os.path.realpath(entry.path)
                if os.path.commonpath([self.root, path]) != self.root:
                    reason = f"a symlink to {path!r}, outside the content folder; not followed"
                    yield Problem(relative, reason, "copy what it points to into content/")
                    return
            found = os.stat(path) if linked else entry.stat(follow_symlinks=False)
        except OSError as exc:
            what, hint = ("cannot follow the symlink", _LINK_HINT) if linked else _CANNOT_READ
            yield Problem(relative, f"{what}: {exc.strerror}", hint)
            return
        if stat.S_ISDIR(found.st_mode):
            if linked:
                self.linked.append((path, relative + "/", found))
            else:
                folders.append((path, relative + "/", found))
        elif os.path.splitext(entry.name)[1].lower() not in CONTENT_SUFFIXES:
            yield Problem(relative, "unsupported file type", "use .md, .html or .txt", "warning")
        elif not stat.S_ISREG(found.st_mode):
            yield Problem(relative, f"{kind(found.st_mode)}, not a regular file", _REGULAR_ONLY)
        elif found.st_size > self.max_bytes:
            refused = too_large(self.max_bytes, found.st_size)
            yield Problem(relative, refused.reason, refused.hint)
        else:
            yield ContentFile(path, relative, found.st_mtime_ns, found.st_size)


def _printable_name(name: str) -> bool:
    """Names that every output, log line and store can carry: UTF-8 (no lone surrogates from
    undecodable bytes) and no control characters (a newline would forge a report line)."""
    return not any(unicodedata.category(char) in ("Cc", "Cs") for char in name)


def kind(mode: int) -> str:
    """What a file that is not a regular file is, for a message."""
    return next((name for is_kind, name in _KINDS if is_kind(mode)), "a special file")


def too_large(max_bytes: int, size: int | None = None) -> Refused:
    """The refusal of a file over ``content.max_file_bytes``."""
    what = f"{size:,} bytes" if size is not None else "larger than that"
    reason = f"over the size limit of {max_bytes:,} bytes ({what}); not read"
    return Refused(reason, "split it, or raise content.max_file_bytes")


def read_bounded(path: str, max_bytes: int) -> bytes:
    """The bytes of the regular file at ``path``, refused if there are more than ``max_bytes``.

    What the walk saw may have been swapped since, so the open descriptor itself is checked: a
    FIFO or a device in its place is refused without blocking or reading, a symlink in its place
    is not followed, and a file that grew past the limit is refused after ``max_bytes + 1``
    bytes — never read to its end.

    :raises Refused: for anything but a regular file, or one too large.
    :raises OSError: when it cannot be opened or read.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink put there after the walk
            raise Refused("a symlink now, not the file that was found; not followed") from exc
        raise
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            raise Refused(f"{kind(found.st_mode)}, not a regular file", _REGULAR_ONLY)
        if found.st_size > max_bytes:
            raise too_large(max_bytes, found.st_size)
        chunks, left = [], max_bytes + 1
        while left > 0 and (chunk := os.read(fd, min(left, _CHUNK))):
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise too_large(max_bytes)
        return b"".join(chunks)
    finally:
        os.close(fd)
