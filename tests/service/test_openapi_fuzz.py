"""schemathesis against the admin API over a real socket (issue 10): the description is what
``GET /api/openapi.json`` of the running web process answers with the admin token, and every
operation in it — that one too — is checked with all of schemathesis's checks: no 5xx; status
codes, content types, headers and JSON bodies as described; invalid input refused with a 4xx
and valid input accepted; no answer without the token; 405 with ``Allow`` for a method an
operation does not have.

It runs as its own command (``python -m schemathesis.cli run``), the way an operator would run
it: its pytest plugin's lazy loading does not work with this pytest. The description is saved to
a file first, because schemathesis leaves out the operation it loaded a description from. The
run is kept short and the same on every run: a few examples an operation, in deterministic mode,
one worker (a few seconds in all).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import NOW, Project, clean_environ
from tests.served import call, served

TOKEN = "s3cret-admin-token"  # noqa: S105 (a test token)
EXAMPLES = 10  # an operation; a few hundred requests in all


def test_the_admin_api_keeps_to_its_openapi_description(project: Project, tmp_path: Path) -> None:
    project.environ["PUBLISHER_ADMIN_TOKEN"] = TOKEN
    project.environ["PUBLISHER_LOG__ACCESS"] = "false"
    project.publish()
    _an_issue(project)  # issue 1, for the operations on an issue to find
    (tmp_path / "schemathesis.toml").write_text('[parameters]\n"path.id" = 1\n')
    command = [sys.executable, "-m", "schemathesis.cli", "run"]
    options = ["--header", f"Authorization: Bearer {TOKEN}", "--checks", "all"]
    options += ["--max-examples", str(EXAMPLES), "--generation-deterministic", "--workers", "1"]
    options += ["--request-timeout", "30", "--no-color"]
    spec = tmp_path / "openapi.json"
    with served(project.settings()) as (base, port):
        described = call(
            port, "GET", "/api/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert described.status == 200
        spec.write_bytes(described.body)
        run = subprocess.run(
            [*command, str(spec), "--url", base, *options],
            cwd=tmp_path,  # its cache and reports stay out of the checkout
            env=clean_environ(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    assert "Tested: 16" in report and "No issues found" in report, report


def _an_issue(project: Project) -> None:
    """One reader and one issue of the daily digest, opened as the API would."""
    from publisher.mail.issues import find_digest, open_issue
    from publisher.site.render import environment_for
    from publisher.store.outbox import Outbox
    from publisher.store.publishing import Store

    settings = project.settings()
    store = Store.open(settings.database_url)
    try:
        outbox = Outbox(store.engine)
        outbox.subscribers.add([("ada@example.com", ["daily"])], "active", NOW)
        digest = find_digest(settings, "daily")
        opened = open_issue(settings, outbox, environment_for(settings), digest, NOW)
        assert opened.issue is not None and opened.issue.id == 1
    finally:
        store.close()
