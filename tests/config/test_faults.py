"""Faults of the settings and of the environment, as an operator meets them: one line naming what
is wrong and one hint on stderr, exit code 2, a traceback only with ``--verbose``, and no SQL or
parameters (they may hold subscribers' addresses). Real faults: a disk that is really full or
read-only (a tiny tmpfs, mounted by the test as root), a PostgreSQL port nobody answers.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import _run
from tests.conftest import IN_CI, Project, clean_environ
from tests.smtpserver import free_port

SQL = ("SELECT", "INSERT", "UPDATE", "[SQL", "parameters", "Traceback")


def _one_line(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """The error and the hint of a command that failed the way an operator should see it."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    error, hint = lines
    assert error.startswith("error: ") and hint.startswith("hint: "), result.stderr
    assert not any(word in result.stderr for word in SQL), result.stderr
    return error, hint


@contextlib.contextmanager
def _tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A real tmpfs at ``path``; outside CI a test skips (saying why) where mounting is refused."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        refused = mounted.stderr.strip() if mounted.returncode else ""
    except OSError as exc:
        refused = str(exc)
    if refused:
        if IN_CI:
            pytest.fail(f"tests run as root under CI, yet mounting a tmpfs failed: {refused}")
        pytest.skip(f"mounting a tmpfs needs root: {refused}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True, timeout=30)


def _fill(folder: Path) -> None:
    """Write to ``folder`` until its disk is full."""
    with contextlib.suppress(OSError), (folder / "filler").open("wb", buffering=0) as handle:
        while True:
            handle.write(b"\0" * 4096)


def test_a_full_disk_under_public_is_one_line_and_exit_2(project: Project) -> None:
    with _tmpfs(project.public, "size=16k"):
        error, hint = _one_line(_run(project, "publish"))
        verbose = _run(project, "--verbose", "publish")
    assert error.startswith(f"error: {project.public}/") and "No space left on device" in error
    assert hint == "hint: the disk is full: free space (`df -h` shows where), then run it again"
    assert "Traceback" in verbose.stderr and verbose.returncode == 2


def test_a_read_only_public_folder_is_one_line_naming_it(project: Project) -> None:
    with _tmpfs(project.public, "size=1m,ro"):
        error, hint = _one_line(_run(project, "publish"))
    assert error.startswith(f"error: {project.public}") and "Read-only file system" in error
    assert "read-only" in hint


def test_a_full_disk_under_var_is_one_line_without_the_addresses(project: Project) -> None:
    var = project.root / "var"
    with _tmpfs(var, "size=2m"):
        assert _run(project, "publish").returncode == 0
        _fill(var)
        addresses = [f"reader-{n}@example.org" for n in range(200)]
        error, hint = _one_line(_run(project, "subscribers", "add", *addresses))
    assert error.startswith(f"error: database sqlite:///{(var / 'publisher.db').resolve()}: ")
    assert "full" in error or "disk I/O error" in error, error
    assert "example.org" not in error + hint
    assert "has room" in hint


@pytest.mark.parametrize("command", [("publish",), ("subscribers", "list"), ("outbox",)])
def test_a_database_nobody_answers_is_one_line_and_exit_2(
    project: Project, command: tuple[str, ...]
) -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none"
    error, hint = _one_line(_run(project, *command, env={"DATABASE_URL": url}))
    assert error.startswith("error: database postgresql+psycopg://nobody:***@127.0.0.1:1/none: ")
    assert "secret" not in error and "reachable" in hint


def _config(project: Project, old: str, new: str) -> None:
    path = project.root / "config" / "publisher.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("command", "change", "env", "error"),
    [
        (
            "run",
            ('schedule = "0 7 * * *"', 'schedule = "0 25 * * *"'),  # ran with a dead worker
            {},
            "error: digests.daily.schedule: hour 25 is outside 0-23, got '0 25 * * *' ({file})",
        ),
        (
            "worker",
            None,
            {"PUBLISHER_WORKER__RESCAN_SECONDS": "-1"},  # spun a core and ignored SIGTERM
            "error: worker.rescan_seconds: expected 1 to 604,800, got -1.0 "
            "(environment PUBLISHER_WORKER__RESCAN_SECONDS)",
        ),
        (
            "run",
            None,
            {"PUBLISHER_WORKER__DRAIN_SECONDS": "0"},
            "error: worker.drain_seconds: expected 0.1 to 3,600, got 0.0 "
            "(environment PUBLISHER_WORKER__DRAIN_SECONDS)",
        ),
    ],
)
def test_bad_settings_stop_run_and_worker_at_once(
    project: Project,
    command: str,
    change: tuple[str, str] | None,
    env: dict[str, str],
    error: str,
) -> None:
    if change is not None:
        _config(project, *change)
    # A service that started would serve until _run's timeout fails the test: a stop, not a hang.
    port = ["--port", str(free_port())] if command == "run" else []
    line, _hint = _one_line(_run(project, command, *port, env=env))
    assert line == error.format(file=project.root / "config" / "publisher.toml")


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ("no content", "error: content.dir: expected a folder, but {root}/content does not exist"),
        ("latin-1", "error: {root}/config/publisher.toml: not UTF-8 text (line 5 has byte 0xe9)"),
        ("entries", "error: feeds.entries: expected 1 to 10,000, got 99999999999999999999"),
        ("mysql", "error: database.url: mysql:// is not a supported database, got 'mysql://"),
        ("hub", "error: feeds.hub: expected an absolute http(s) URL, got 'hub.example.org'"),
    ],
)
def test_configuration_faults_are_one_line(project: Project, setup: str, error: str) -> None:
    env = {}
    if setup == "no content":
        shutil.rmtree(project.root / "content")
    elif setup == "latin-1":
        _config(project, 'title = "Harbor Notes"', 'title = "Caf\xe9"')
        path = project.root / "config" / "publisher.toml"
        path.write_bytes(path.read_text().encode("latin-1"))
    elif setup == "entries":
        _config(project, "entries = 50", "entries = 99999999999999999999")
    elif setup == "mysql":
        env = {"DATABASE_URL": "mysql://app:secret@127.0.0.1/app"}
    else:
        _config(project, "[feeds]\n", "[feeds]\nhub = 'hub.example.org'\n")
    line, _hint = _one_line(_run(project, "publish", env=env))
    assert line.startswith(error.format(root=project.root)), line
    assert "secret" not in line


def test_a_closed_stdout_is_not_an_error(project: Project) -> None:
    """Click exits 1 quietly on EPIPE before main() sees it; the OSError line must not."""
    command = [sys.executable, "-c", "from publisher.cli.main import main; main()"]
    command += ["--root", str(project.root), "config"]
    # More than a pipe holds, so the command is still writing when its reader goes away.
    environ = clean_environ({**project.environ, "PUBLISHER_SITE__DESCRIPTION": "x" * 100_000})
    with subprocess.Popen(
        command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as reader:
        assert reader.stdout is not None and reader.stderr is not None
        reader.stdout.read(10)
        reader.stdout.close()  # `publisher config | head -c 10`
        stderr = reader.stderr.read().decode()
    assert (reader.returncode, stderr) == (1, "")
