"""The suite owns its fixtures: an operator's own content/ and config/ in the checkout change
nothing in what the tests see (issue "never silent", finding 10)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, clean_environ

OPERATORS_ARTICLE = """---
title: An Operator's Own Story
date: 2026-02-02
attribution: "Originally published by the operator."
---
Added to the checkout's content/ after cloning.
"""


def test_no_test_reads_the_checkouts_content_or_config() -> None:
    live = re.compile(r"REPO\s*/\s*\"(content|config)\"")
    offenders = [
        path.name for path in (REPO / "tests").glob("*.py") if live.search(path.read_text())
    ]
    assert offenders == []


def test_the_suite_passes_in_a_checkout_with_an_operators_content_and_config(
    tmp_path: Path,
) -> None:
    checkout = tmp_path / "checkout"
    for name in ("tests", "templates", "config", "content"):
        shutil.copytree(REPO / name, checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, checkout)
    (checkout / "content" / "operators-own.md").write_text(OPERATORS_ARTICLE)
    config = checkout / "config" / "publisher.toml"
    config.write_text(config.read_text().replace('title = "Harbor Notes"', 'title = "Mine"'))
    # The tests that counted the checkout's articles and read its settings before.
    chosen = ["tests/cli/test_cli.py", "tests/config/test_config.py"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *chosen],
        cwd=checkout,
        env=clean_environ(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
