"""The command line as an operator uses it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import Project, clean_environ


def _run(
    project: Project, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = clean_environ({**project.environ, **(env or {})})
    command = [
        sys.executable,
        "-c",
        "from publisher.cli.main import main; main()",
        "--root",
        str(project.root),
        *args,
    ]
    return subprocess.run(
        command, capture_output=True, text=True, env=environ, timeout=120, check=False
    )


def test_publish_reports_what_it_did_and_where_to_look(project: Project) -> None:
    result = _run(project, "publish")
    assert result.returncode == 0, result.stderr
    assert "articles: 4 new, 0 updated, 0 unchanged, 0 removed" in result.stdout
    assert f"site: {project.root.resolve() / 'public' / 'index.html'}" in result.stdout
    again = _run(project, "publish")
    assert "articles: 0 new, 0 updated, 4 unchanged, 0 removed" in again.stdout
    assert "outputs: 0 written, 0 deleted, 0 refused" in again.stdout


def test_publish_names_skipped_files_and_exits_1(project: Project) -> None:
    project.write("broken.md", "---\ntitle: No attribution\ndate: 2024-01-01\n---\nBody\n")
    result = _run(project, "publish")
    assert result.returncode == 1
    assert "skipped: broken.md: no attribution (set `attribution:`" in result.stdout
    assert "articles: 4 new" in result.stdout


def test_check_lists_problems_with_path_reason_and_hint(project: Project) -> None:
    project.write("empty.txt", "")
    project.write(
        "unknown.md", "---\ntitle: T\ndate: 2024-01-01\nattribution: A\nauthr: x\n---\nBody\n"
    )
    result = _run(project, "check", "--json")
    assert result.returncode == 1
    problems = {p["path"]: p for p in json.loads(result.stdout)}
    assert (
        problems["empty.txt"]["reason"] == "empty file"
        and problems["empty.txt"]["severity"] == "error"
    )
    assert (
        problems["unknown.md"]["severity"] == "warning"
        and "authr" in problems["unknown.md"]["reason"]
    )


def test_check_strict_fails_on_warnings_only_when_asked(project: Project) -> None:
    project.write(
        "unknown.md", "---\ntitle: T\ndate: 2024-01-01\nattribution: A\nauthr: x\n---\nBody\n"
    )
    assert _run(project, "check").returncode == 0
    strict = _run(project, "check", "--strict")
    assert strict.returncode == 1
    assert "warning: unknown.md: unknown front-matter fields ignored: authr" in strict.stdout


def test_bundled_content_checks_clean(project: Project) -> None:
    result = _run(project, "check", "--strict")
    assert (result.returncode, result.stdout.strip()) == (0, "0 errors, 0 warnings")


def test_a_config_error_is_one_line_with_a_hint_and_no_traceback(project: Project) -> None:
    result = _run(project, "publish", env={"PUBLISHER_FEEDS__ENTRIES": "many"})
    assert result.returncode == 2
    assert (
        "error: feeds.entries: expected int, got 'many' (environment PUBLISHER_FEEDS__ENTRIES)"
        in result.stderr
    )
    assert "hint:" in result.stderr and "Traceback" not in result.stderr
    verbose = _run(project, "--verbose", "publish", env={"PUBLISHER_FEEDS__ENTRIES": "many"})
    assert "Traceback" in verbose.stderr and verbose.returncode == 2


def test_an_unreachable_database_is_a_config_error(project: Project) -> None:
    result = _run(
        project, "publish", env={"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: database postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_config_shows_every_setting(project: Project) -> None:
    result = _run(project, "config")
    assert "site.timezone = 'Europe/Berlin'" in result.stdout
    assert "env DATABASE_URL or PUBLISHER_DATABASE__URL" in result.stdout


def test_files_copied_right_before_a_publish_are_published(db_project: Project) -> None:
    """Scripts and cron jobs run `cp a.md content/ && publisher publish`: nothing is skipped."""
    project = db_project  # on SQLite and on PostgreSQL
    from tests.corpus import article_text

    for number in range(3):
        project.write(f"fresh-{number}.md", article_text(number))
    result = _run(project, "publish", env={"PUBLISHER_CONTENT__SETTLE_SECONDS": "2"})
    assert result.returncode == 0, result.stdout
    assert "articles: 7 new, 0 updated, 0 unchanged, 0 removed" in result.stdout
    assert "still being written" not in result.stdout
