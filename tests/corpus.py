"""Many articles for tests that need a long publish: small Markdown files, made quickly."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import Project, clean_environ

TAGS = ("Coasts", "Rivers", "Harbours", "Tides", "Wetlands", "Ferries")
PARAGRAPH = "Volunteers walked the shore at low tide and counted what they found. " * 8


def article_text(number: int) -> str:
    """Article ``number``: a unique title, a date, two tags, an attribution and a disclaimer."""
    tags = f"[{TAGS[number % len(TAGS)]}, {TAGS[(number // 7) % len(TAGS)]}]"
    return (
        "---\n"
        f'title: "Shore survey number {number}"\n'
        f"date: {2015 + number % 10}-{1 + number % 12:02d}-{1 + number % 28:02d}\n"
        f"tags: {tags}\n"
        f'attribution: "Originally published by Coast Notes, survey {number}."\n'
        'disclaimer: "The views expressed are the volunteers\' own."\n'
        "---\n"
        f"{PARAGRAPH}\n\n{PARAGRAPH}\n"
    )


def write_corpus(content: Path, count: int, start: int = 0) -> list[Path]:
    """Write ``count`` articles into ``content/corpus/``; their paths."""
    folder = content / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(start, start + count):
        path = folder / f"survey-{number:05d}.md"
        path.write_text(article_text(number), encoding="utf-8")
        paths.append(path)
    hour_ago = path.stat().st_mtime - 3600  # settled: no wait for files just written
    for path in paths:
        os.utime(path, (hour_ago, hour_ago))
    return paths


def publisher_process(project: Project, *args: str) -> subprocess.Popen[str]:
    """``publisher --root ROOT ARGS…`` running in the background."""
    command = [sys.executable, "-c", "from publisher.cli.main import main; main()"]
    return subprocess.Popen(
        [*command, "--root", str(project.root), *args],
        env=clean_environ(project.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def growing(path: Path) -> Iterator[None]:
    """While the body runs, ``path`` keeps growing: a copy that never finishes."""
    stop = threading.Event()

    def keep_writing() -> None:
        with path.open("a") as handle:
            while not stop.wait(0.02):
                handle.write("more words\n")
                handle.flush()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        yield
    finally:
        stop.set()
        writer.join()
