"""The only code that writes under ``public/``: gate, compare, write atomically, record.

An output is written only when it passed the fidelity gate and its bytes differ from what was
published before, so a publish with nothing new changes no byte and no mtime (invariants 3, 4).

A publish can die between writing a file and recording it in the store (a SIGKILL, a full
disk). So every path is noted in the store's export journal, in a committed transaction,
before its file is written or removed; the next publish starts by making each journaled path
agree with the outputs table again (:meth:`Exporter.recover`): a page whose output is not
stored is removed, one whose bytes differ is put back. That costs a look at the paths one
interrupted publish touched, nothing otherwise.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path, PurePosixPath

from publisher.models import Output, RunReport
from publisher.site import fidelity
from publisher.store.publishing import Store

log = logging.getLogger(__name__)
CHUNK = 200  # outputs recorded per transaction: short enough for other writers


def safe_join(root: Path, relative: str) -> Path:
    """``root / relative``, refusing absolute paths and ``..``: no output may leave ``root``."""
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or ".." in parts:
        raise ValueError(f"output path {relative!r} escapes {root}")
    return root / relative


def files_under(root: Path) -> set[str]:
    """Relative POSIX paths of every file under ``root``: one walk instead of a stat per file."""
    found: set[str] = set()
    for directory, _subdirs, names in os.walk(root):
        prefix = Path(directory).relative_to(root).as_posix()
        found.update(name if prefix == "." else f"{prefix}/{name}" for name in names)
    return found


def write_atomic(path: Path, body: bytes) -> None:
    """Write to a temporary name in the same folder, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(body)
        os.replace(temporary, path)
    except OSError as exc:  # name the output, not the temporary file (or nothing: ENOSPC)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    finally:
        temporary.unlink(missing_ok=True)


def _sha256_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class Checked:
    """An output after the gate: its hash, and the reasons it may not be published."""

    output: Output
    digest: str
    errors: tuple[str, ...] = ()
    written: bool | None = None  # None: not placed under public/ yet


def place(public_dir: Path, checked: Checked, previous: str | None) -> Checked:
    """Write a gated output's file when its bytes changed or the file is missing.

    Runs in the worker that rendered the output, so large builds create files in parallel;
    the path must be journaled before.
    """
    if checked.errors:
        return checked
    target = safe_join(public_dir, checked.output.path)
    written = previous != checked.digest or not target.exists()
    if written:
        write_atomic(target, checked.output.body)
    return replace(checked, written=written)


def gate(output: Output) -> Checked:
    """Run the fidelity gate and hash the bytes (in a worker process for large batches).

    The articles are dropped from the result: only the bytes need to travel back.
    """
    errors = tuple(f"{error} ({error.hint})" for error in fidelity.check(output))
    return Checked(replace(output, articles=()), hashlib.sha256(output.body).hexdigest(), errors)


def failed(path: str, reason: str) -> Checked:
    """An output that could not even be rendered."""
    return Checked(Output(path, "", b""), "", (f"{path}: {reason}",))


class Exporter:
    """Publishes outputs to ``public/`` and the store, remembering what this run produced.

    Outputs are recorded in chunks, each in a short transaction of its own; :meth:`finish`
    records what is left.
    """

    def __init__(self, store: Store, public_dir: Path, now: datetime, report: RunReport) -> None:
        self.store, self.public_dir, self.now, self.report = store, public_dir, now, report
        self.hashes = store.outputs.hashes()
        self.produced: set[str] = set()
        self._unrecorded: list[Checked] = []
        self._gated: list[Checked] = []

    def expect(self, paths: Iterable[str]) -> None:
        """Journal paths (committed) before their files are written or removed."""
        with self.store.transaction():
            self.store.builds.journal(paths)

    def recover(self) -> None:
        """Make every path an interrupted publish journaled agree with the store again."""
        paths = self.store.builds.journaled()
        for path in paths:
            target = safe_join(self.public_dir, path)
            stored = self.hashes.get(path)
            if stored is None:
                target.unlink(missing_ok=True)
            elif _sha256_of(target) != stored:
                found = self.store.outputs.read(path)
                if found is not None:
                    write_atomic(target, found[1])
        if paths:
            log.warning("an earlier publish stopped half-way: %d paths made whole", len(paths))
            with self.store.transaction():
                self.store.builds.clear_journal()

    def admit(self, checked: Checked) -> None:
        """Take a gated output not placed yet; it is journaled and written with its chunk."""
        self._gated.append(checked)
        if len(self._gated) >= CHUNK:
            self._place_gated()

    def _place_gated(self) -> None:
        gated, self._gated = self._gated, []
        self.expect(c.output.path for c in gated if not c.errors)
        for checked in gated:
            self.publish(checked)

    def publish(self, checked: Checked) -> None:
        """Publish a gated output unless it was refused or is unchanged.

        What was published before stays in place when the new version is refused.
        """
        output = checked.output
        self.produced.add(output.path)
        if checked.errors:
            for error in checked.errors:
                log.error("%s", error)
                self.report.refused.append(error)
            return
        if checked.written is None:
            checked = place(self.public_dir, checked, self.hashes.get(output.path))
        if not checked.written:
            return
        self.report.written.append(output.path)
        if self.hashes.get(output.path) != checked.digest:
            self._unrecorded.append(checked)
            if len(self._unrecorded) >= CHUNK:
                self._record()

    def _record(self) -> None:
        rows, self._unrecorded = self._unrecorded, []
        with self.store.transaction():
            for checked in rows:
                output = checked.output
                self.store.outputs.put(
                    output.path, output.media_type, output.body, checked.digest, self.now
                )
        self.hashes.update((c.output.path, c.digest) for c in rows)

    def remove(self, paths: Iterable[str]) -> None:
        """Withdraw outputs from ``public/`` and the store."""
        known = sorted(p for p in set(paths) if p in self.hashes)
        if not known:
            return
        self.expect(known)
        with self.store.transaction():
            self.store.outputs.delete(known)
        for path in known:
            safe_join(self.public_dir, path).unlink(missing_ok=True)
            del self.hashes[path]
        self.report.deleted += known

    def remove_unproduced(self) -> None:
        """After a full build: withdraw every stored output this run did not produce."""
        self.remove(set(self.hashes) - self.produced)

    def finish(self) -> None:
        """Write and record what is still waiting."""
        self._place_gated()
        if self._unrecorded:
            self._record()

    def restore_missing(self) -> None:
        """Rewrite published files that vanished from ``public/`` (e.g. the folder was wiped)."""
        for path in sorted(set(self.hashes) - self.produced - files_under(self.public_dir)):
            stored = self.store.outputs.read(path)
            if stored is not None:
                write_atomic(safe_join(self.public_dir, path), stored[1])
                self.report.written.append(path)
