"""Logging (issue 8, finding 3): the service writes one line per event to stderr — each publish,
issue, send run, content problem appearing or going away, task failure and restart, and each
request — in one format; one-shot commands log warnings only, unless ``log.level`` or
``--verbose`` ask for more.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from publisher.errors import ConfigError
from publisher.service.logs import level_for
from tests.cli.test_cli import _run
from tests.conftest import Project, clean_environ
from tests.services import fetch, wait_for, wait_until_up
from tests.smtpserver import free_port

TOKEN = "s3cret-admin-token"  # noqa: S105 (a test token)
LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: \S")
NAMELESS = "---\ntitle: Nobody Says\ndate: 2026-03-01\n---\nWhose words these are.\n"
GOOD = "---\ntitle: Fresh Catch\ndate: 2026-03-01\nattribution: By the Harbor Wire.\n---\nNew.\n"


def test_the_service_logs_one_line_per_event_to_stderr(project: Project, tmp_path: Path) -> None:
    project.environ["PUBLISHER_ADMIN_TOKEN"] = TOKEN
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", "from publisher.cli.main import main; main()"]
    command += ["--root", str(project.root), "run", "--port", str(port)]
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        service = subprocess.Popen(
            command, env=clean_environ(project.environ), stdout=stdout, stderr=stderr
        )
        try:
            wait_until_up(base, service)

            def problems() -> list[str]:
                headers = {"Authorization": f"Bearer {TOKEN}"}
                status = json.loads(fetch(f"{base}/api/status", headers)[1])
                return [p["path"] for p in status["problems"]]

            wait_for(lambda: fetch(f"{base}/atom.xml")[0] == 200, 15, "the site published")
            project.write("nameless.md", NAMELESS)
            wait_for(lambda: problems() == ["nameless.md"], 15, "the problem stored")
            project.write("fresh.md", GOOD)  # another publish, the problem still there
            wait_for(lambda: b"Fresh Catch" in fetch(f"{base}/atom.xml")[1], 15, "the new file")
            (project.root / "content" / "nameless.md").unlink()
            wait_for(lambda: problems() == [], 15, "the problem gone")
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=30)
    log = err.read_text().splitlines()
    assert service.returncode == 0, "\n".join(log)
    assert [line for line in log if not LINE.match(line)] == []
    assert any(
        "INFO publisher.worker: published 4 new, 0 updated, 0 removed, 57 outputs written (" in line
        for line in log
    )
    assert any(" INFO publisher.worker: published 1 new, " in line for line in log)
    problem = [line for line in log if "content problem: nameless.md: no attribution" in line]
    assert len(problem) == 1 and " ERROR publisher.worker: " in problem[0]  # not every rescan
    assert sum("content problem gone: nameless.md: no attribution" in line for line in log) == 1
    access = [line for line in log if " INFO uvicorn.access: 127.0.0.1:" in line]
    assert any('"GET /atom.xml HTTP/1.1" 200' in line for line in access)
    assert "GET /" not in out.read_text()  # uvicorn's default config prints them to stdout


def test_one_shot_commands_log_warnings_unless_asked_for_more(project: Project) -> None:
    def publish(name: str, *options: str, **env: str) -> list[str]:
        fresh = {"DATABASE_URL": f"sqlite:///{project.root / name}"}  # migrated: INFO lines
        done = _run(project, *options, "publish", env=fresh | env)
        assert done.returncode == 0, done.stderr
        return done.stderr.splitlines()

    assert publish("quiet.db") == []
    told = publish("told.db", PUBLISHER_LOG__LEVEL="info")
    assert told and all(LINE.match(line) for line in told)
    assert any(" INFO alembic.runtime.migration: Running upgrade" in line for line in told)
    assert any(" DEBUG " in line for line in publish("verbose.db", "--verbose"))


@pytest.mark.parametrize(
    ("setting", "service", "verbose", "level"),
    [
        ("", True, False, logging.INFO),
        ("", False, False, logging.WARNING),
        ("error", True, False, logging.ERROR),
        (" Debug ", False, False, logging.DEBUG),
        ("error", True, True, logging.DEBUG),
    ],
)
def test_the_level_comes_from_verbose_then_the_setting_then_the_role(
    setting: str, service: bool, verbose: bool, level: int
) -> None:
    assert level_for(setting, service=service, verbose=verbose) == level


def test_a_level_that_is_no_level_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"log\.level: 'loud' is not a level"):
        level_for("loud", service=True, verbose=False)
