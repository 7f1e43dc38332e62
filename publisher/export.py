"""The only code that writes under ``public/``: gate, compare, write atomically, record.

An output is written only when it passed the fidelity gate and its bytes differ from what was
published before, so a publish with nothing new changes no byte and no mtime (invariants 3, 4).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path, PurePosixPath

from publisher import fidelity
from publisher.models import Output, RunReport
from publisher.store import Store

log = logging.getLogger(__name__)


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
    finally:
        temporary.unlink(missing_ok=True)


@dataclass(frozen=True)
class Checked:
    """An output after the gate: its hash, and the reasons it may not be published."""

    output: Output
    digest: str
    errors: tuple[str, ...] = ()
    written: bool | None = None  # None: not placed under public/ yet


def place(public_dir: Path, checked: Checked, previous: str | None) -> Checked:
    """Write a gated output's file when its bytes changed or the file is missing.

    Runs in the worker that rendered the output, so large builds create files in parallel.
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
    """Publishes outputs to ``public/`` and the store, remembering what this run produced."""

    def __init__(self, store: Store, public_dir: Path, now: datetime, report: RunReport) -> None:
        self.store, self.public_dir, self.now, self.report = store, public_dir, now, report
        self.hashes = store.output_hashes()
        self.produced: set[str] = set()

    def emit(self, output: Output) -> None:
        """Gate and publish one output."""
        self.publish(gate(output))

    def publish(self, checked: Checked) -> None:
        """Publish a gated output unless it was refused or is unchanged.

        What was published before stays in place when the new version is refused.
        """
        output, digest = checked.output, checked.digest
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
        if self.hashes.get(output.path) != digest:
            self.store.put_output(output.path, output.media_type, output.body, digest, self.now)
            self.hashes[output.path] = digest
        self.report.written.append(output.path)

    def remove(self, path: str) -> None:
        """Withdraw an output from ``public/`` and the store."""
        if path not in self.hashes:
            return
        safe_join(self.public_dir, path).unlink(missing_ok=True)
        self.store.delete_output(path)
        del self.hashes[path]
        self.report.deleted.append(path)

    def remove_unproduced(self) -> None:
        """After a full build: withdraw every stored output this run did not produce."""
        for path in sorted(set(self.hashes) - self.produced):
            self.remove(path)

    def restore_missing(self) -> None:
        """Rewrite published files that vanished from ``public/`` (e.g. the folder was wiped)."""
        for path in sorted(set(self.hashes) - self.produced - files_under(self.public_dir)):
            stored = self.store.get_output(path)
            if stored is not None:
                write_atomic(safe_join(self.public_dir, path), stored[1])
                self.report.written.append(path)
