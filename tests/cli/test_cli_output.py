"""What the commands print cannot be spoofed (issue 10, finding 6): file names, addresses and
relays' replies holding control, bidi or line-separating characters are printed escaped, so
none can forge a report line (a fake ``refused:``), recolour the terminal or reorder a line.

Real processes, real files, a real store and a real SMTP server.
"""

from __future__ import annotations

import logging
import re
from collections import deque

import pytest

from publisher.service.logs import configure
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from publisher.text import shown
from tests.cli.test_cli import _run
from tests.conftest import NOW, Project
from tests.smtpserver import MailServer

LOG_LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (DEBUG|INFO|WARNING|ERROR) [\w.]+: ")
BROKEN = "---\ntitle: Fine\ndate: 2024-01-01\n---\nNo attribution\n"
# U+202E reverses what follows, U+200B hides, U+2028 ends a line for many readers of the output.
NAMES = [
    "evil\nrefused: atom.xml.md",
    "invoice\u202egnp.md",
    "zero\u200bwidth.md",
    "line\u2028refused: feed.json.md",
]


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        ("plain ä 漢字\u3000text", "plain ä 漢字\u3000text"),  # spaces of any width are kept
        ("a\nb\r\tc", "a\\nb\\r\\tc"),
        ("\x1b[2J\x7f", "\\x1b[2J\\x7f"),
        ("\u202e\u200b\u2028\u2029\ufeff", "\\u202e\\u200b\\u2028\\u2029\\ufeff"),
        ("\udcff\U000e0001", "\\udcff\\U000e0001"),  # an undecodable byte; a tag character
    ],
)
def test_hidden_characters_are_escaped_and_the_rest_kept(value: str, printed: str) -> None:
    assert shown(value) == printed


def _lines(text: str) -> list[str]:
    """Lines as any reader of the output may split them (U+2028 included)."""
    return text.splitlines()


def test_a_file_name_cannot_forge_a_line_of_publish_or_check(project: Project) -> None:
    for name in NAMES:
        project.write(name, BROKEN)
    published = _run(project, "publish")
    checked = _run(project, "check")
    assert published.returncode == 1 and checked.returncode == 1
    for output, prefixes in [
        (published.stdout, ("articles:", "outputs:", "skipped:", "warning:", "site:")),
        (checked.stdout, ("error:", "warning:", "4 errors")),
    ]:
        lines = _lines(output)
        assert all(line.startswith(prefixes) for line in lines), output
        assert not any(line.startswith("refused:") for line in lines)
        for name in NAMES:
            assert shown(name) in output
        assert len([line for line in lines if line.startswith(("skipped:", "error:"))]) == 4
    assert "\u202e" not in published.stdout + published.stderr + checked.stderr


def test_a_file_name_cannot_forge_a_line_of_the_log(capsys: pytest.CaptureFixture[str]) -> None:
    """The service names files and addresses in its log (a refused file, a bounced reader):
    each event stays one line, however the name is made."""
    root = logging.getLogger()
    before = list(root.handlers), root.level
    try:
        configure(logging.INFO)
        for name in NAMES:
            logging.getLogger("publisher.worker").warning("refused %s: no attribution", name)
    finally:
        root.handlers[:], root.level = before
    logged = capsys.readouterr().err
    lines = _lines(logged)
    assert len(lines) == len(NAMES) and all(LOG_LINE.match(line) for line in lines), logged
    for name in NAMES:
        assert shown(name) in logged


def test_a_stored_address_is_listed_escaped_one_line_per_subscriber(project: Project) -> None:
    addresses = ["ada\n\x1b[2Jmallory@example.org", "bo\u202egro.elpmaxe@example.org"]
    project.publish()
    store = Store.open(project.settings().database_url)
    try:  # as a store written before addresses were checked could hold them
        Outbox(store.engine).subscribers.add([(a, ["daily"]) for a in addresses], "active", NOW)
    finally:
        store.close()
    listed = _run(project, "subscribers", "list")
    assert listed.returncode == 0, listed.stderr
    assert _lines(listed.stdout) == [f"{shown(a)}\tactive\tdaily" for a in addresses]


def test_a_relays_reply_is_shown_escaped_by_digest_and_outbox(
    project: Project, mail_server: MailServer
) -> None:
    project.environ.update(mail_server.environ())
    _run(project, "subscribers", "add", "ada@example.com", "gone@example.net")
    reply = "550 5.1.1 \x1b[2Jgone\u202e \u2028refused: everything"
    mail_server.script.rcpt["gone@example.net"] = deque([reply])
    sent = _run(project, "digest", "daily")
    listed = _run(project, "outbox")
    for output in (sent.stdout, listed.stdout):
        failures = [line for line in _lines(output) if line.startswith("failed (")]
        assert len(failures) == 1, output
        assert "550 5.1.1 \\x1b[2Jgone\\u202e" in failures[0]  # (the reply's spaces are folded)
        assert not any(line.startswith("refused:") for line in _lines(output))
        assert "\x1b" not in output and "\u202e" not in output
