"""The only code that writes under ``public/``: gate, compare, write atomically, record.

An output is written only when it passed the fidelity gate and its bytes differ from what was
published before, so a publish with nothing new changes no byte and no mtime (invariants 3, 4).
"""

from __future__ import annotations

import hashlib
import logging
import os
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


class Exporter:
    """Publishes outputs to ``public/`` and the store, remembering what this run produced."""

    def __init__(self, store: Store, public_dir: Path, now: datetime, report: RunReport) -> None:
        self.store, self.public_dir, self.now, self.report = store, public_dir, now, report
        self.hashes = store.output_hashes()
        self.produced: set[str] = set()

    def emit(self, output: Output) -> None:
        """Publish one output unless the gate refuses it or it is unchanged."""
        self.produced.add(output.path)
        errors = fidelity.check(output)
        if errors:
            for error in errors:
                log.error("%s (%s)", error, error.hint)
                self.report.refused.append(str(error))
            return
        digest = hashlib.sha256(output.body).hexdigest()
        target = safe_join(self.public_dir, output.path)
        if self.hashes.get(output.path) == digest and target.exists():
            return
        write_atomic(target, output.body)
        if self.hashes.get(output.path) != digest:
            self.store.put_output(output.path, output.media_type, output.body, digest, self.now)
            self.hashes[output.path] = digest
        self.report.written.append(output.path)

    def refuse(self, path: str, reason: str) -> None:
        """Record an output that could not be rendered; what was published before stays."""
        self.produced.add(path)
        log.error("%s: %s", path, reason)
        self.report.refused.append(f"{path}: {reason}")

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
