"""The digest commands as an operator runs them: real processes, Maildir and SMTP delivery."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default

from publisher.text import visible_text
from tests.cli.test_cli import _run
from tests.conftest import REPO, Project
from tests.smtpserver import MailServer

CSV = """email,digests
ada@example.com,daily
Bo@Example.NET,daily|weekly
not-an-address,daily
cy@example.org,monthly
ada@example.com,weekly

dee@example.org,
"""


def test_import_keeps_good_rows_names_bad_lines_and_is_idempotent(project: Project) -> None:
    path = project.root / "list.csv"
    path.write_text(CSV)
    first = _run(project, "subscribers", "import", str(path))
    assert first.returncode == 1  # some rows were bad
    assert "line 4: 'not-an-address'" in first.stderr
    assert "line 5: unknown digest(s) monthly" in first.stderr
    assert "line 6: ada@example.com appears twice" in first.stderr
    assert "subscribers: 3 added, 0 updated, 0 unchanged" in first.stdout
    again = _run(project, "subscribers", "import", str(path))
    assert "subscribers: 0 added, 0 updated, 3 unchanged" in again.stdout
    listed = _run(project, "subscribers", "list").stdout.splitlines()
    assert listed == [
        "ada@example.com\tactive\tdaily",
        "Bo@example.net\tactive\tdaily weekly",
        "dee@example.org\tactive\tdaily weekly",
    ]
    exported = _run(project, "subscribers", "export").stdout
    assert exported.splitlines()[0] == "email,digests,status"
    assert "Bo@example.net,daily weekly,active" in exported


def test_removed_readers_stay_unsubscribed_on_reimport(project: Project) -> None:
    _run(project, "subscribers", "add", "ada@example.com", "--digest", "daily")
    removed = _run(project, "subscribers", "remove", "ADA@example.com")
    assert "unsubscribed" in removed.stdout
    again = _run(project, "subscribers", "add", "ada@example.com")
    assert "only the reader can subscribe again" in again.stdout
    assert _run(project, "subscribers", "list", "--status", "active").stdout == ""
    forgotten = _run(project, "subscribers", "remove", "--forget", "ada@example.com")
    assert "forgotten" in forgotten.stdout
    assert _run(project, "subscribers", "list").stdout == ""


def test_a_bad_address_or_digest_is_one_clear_line(project: Project) -> None:
    bad = _run(project, "subscribers", "add", "ada@@example.com")
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")
    unknown = _run(project, "digest", "hourly")
    assert unknown.returncode == 2
    assert "no digest named 'hourly' (configured: daily, weekly)" in unknown.stderr


def test_digest_daily_writes_multipart_messages_to_the_maildir(project: Project) -> None:
    _run(project, "subscribers", "add", "ada@example.com", "bo@example.net")
    done = _run(project, "digest", "daily")
    assert done.returncode == 0, done.stderr
    assert "issue 1" in done.stdout and "with 4 articles for 2 subscribers" in done.stdout
    assert "sent 2, retrying later 0, failed 0" in done.stdout
    files = sorted((project.root / "var" / "outbox" / "new").iterdir())
    assert len(files) == 2
    for path in files:
        message = message_from_bytes(path.read_bytes(), policy=default)
        parts = [p.get_content_type() for p in message.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        text = " ".join(str(message.get_body(("plain",)).get_content()).split())  # type: ignore[union-attr]
        assert visible_text("Originally published by Coastline Quarterly.") in text
    again = _run(project, "digest", "daily")
    assert "no issue opened: nothing new since the last issue" in again.stdout
    assert len(list((project.root / "var" / "outbox" / "new").iterdir())) == 2
    outbox = _run(project, "outbox")
    assert (
        "queued: 0  sending: 0  sent: 2  failed: 0  possibly delivered: 0  cancelled: 0"
        in outbox.stdout
    )


def test_dry_run_shows_who_gets_what_and_stores_nothing(project: Project) -> None:
    _run(project, "publish")
    _run(project, "subscribers", "add", "ada@example.com")
    dry = _run(project, "digest", "daily", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "subject: Harbor Notes: 4 new stories" in dry.stdout
    assert "4 articles:" in dry.stdout and "recipients: 1" in dry.stdout
    assert "  ada@example.com" in dry.stdout
    assert "sent: 0" in _run(project, "outbox").stdout
    assert not (project.root / "var" / "outbox").exists()
    real = _run(project, "digest", "daily")
    assert "with 4 articles for 1 subscriber" in real.stdout  # the dry run carried nothing


def test_preview_renders_the_next_issue_for_a_sample_reader(project: Project) -> None:
    _run(project, "publish")
    _run(project, "subscribers", "add", "ada@example.com")
    out = project.root / "preview.html"
    html = _run(project, "preview", "daily", "--out", str(out))
    assert html.returncode == 0, html.stderr
    page = out.read_text()
    assert "<table" in page and "ada@example.com" in page and "@@" not in page
    text = _run(project, "preview", "weekly", "--text").stdout
    assert "Unsubscribe: http://localhost:8000/unsubscribe/" in text
    eml = _run(project, "preview", "daily", "--eml").stdout
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in eml


def test_digest_and_send_test_go_to_the_configured_smtp_server(
    project: Project, mail_server: MailServer
) -> None:
    project.environ.update(mail_server.environ())
    _run(project, "subscribers", "add", "ada@example.com", "bo@example.net")
    done = _run(project, "digest", "daily")
    assert "sent 2" in done.stdout and "smtp://127.0.0.1" in done.stdout, done.stderr
    assert sorted(r.recipients[0] for r in mail_server.received) == [
        "ada@example.com",
        "bo@example.net",
    ]
    test = _run(project, "send-test", "weekly", "--to", "editor@example.org")
    assert test.returncode == 0, test.stderr
    assert "sent to editor@example.org" in test.stdout
    last = mail_server.received[-1]
    assert last.recipients == ["editor@example.org"]
    assert last.message()["To"] == "editor@example.org"
    assert last.message()["Subject"].startswith("[TEST] Harbor Notes: ")
    assert "sent: 2" in _run(project, "outbox").stdout  # the test left no trace


def test_outbox_lists_failures_and_queues_them_again(
    project: Project, mail_server: MailServer
) -> None:
    from collections import deque

    project.environ.update(mail_server.environ())
    _run(project, "subscribers", "add", "ada@example.com", "gone@example.net")
    mail_server.script.rcpt["gone@example.net"] = deque(["550 5.1.1 mailbox unavailable"])
    done = _run(project, "digest", "daily")
    assert "failed 1" in done.stdout
    listed = _run(project, "outbox").stdout
    assert "failed: 1" in listed
    assert (
        "failed (1): 550 5.1.1 mailbox unavailable (at rcpt) — e.g. gone@example.net, "
        "daily issue 1, 1 try" in listed
    )
    retried = _run(project, "outbox", "--retry-failed").stdout
    assert "queued again: 1" in retried
    assert "sent 1" in _run(project, "drain").stdout
    assert "sent: 2" in _run(project, "outbox").stdout


def test_outbox_says_why_deliveries_wait_until_when_and_drain_exits_1_when_nothing_arrived(
    db_project: Project, mail_server: MailServer
) -> None:
    """What an operator reads while deliveries wait (issue 9, honest reports): the relay's
    reply and the next try of a retry, the lease of a claim; and a drain in which nothing
    arrived exits 1."""
    from collections import deque
    from datetime import UTC, datetime, timedelta

    from publisher.store.outbox import Outbox
    from publisher.store.publishing import Store

    project = db_project
    project.environ.update(mail_server.environ())
    _run(project, "subscribers", "add", "ada@example.com", "bo@example.com", "cy@example.com")
    mail_server.script.rcpt["ada@example.com"] = deque(["451 4.2.0 greylisted, come back later"])
    mail_server.script.rcpt["bo@example.com"] = deque(["550 5.1.1 mailbox unavailable"])
    mail_server.script.rcpt["cy@example.com"] = deque(["550 5.1.1 mailbox unavailable"])
    opened = _run(project, "digest", "daily")
    assert opened.returncode == 1, opened.stdout + opened.stderr  # nothing arrived
    assert "sent 0, retrying later 1, failed 2" in opened.stdout
    listed = _run(project, "outbox").stdout
    waiting = [line for line in listed.splitlines() if line.startswith("waiting (1): ")]
    assert waiting, listed
    assert "451 4.2.0 greylisted, come back later (at rcpt)" in waiting[0]
    assert "e.g. ada@example.com, daily issue 1, 1 try, next try 20" in waiting[0]
    assert "failed (2): 550 5.1.1 mailbox unavailable (at rcpt)" in listed
    store = Store.open(project.settings().database_url)
    try:
        later = datetime.now(UTC) + timedelta(hours=1)  # the retry is due by then
        claimed = Outbox(store.engine).deliveries.claim(later, timedelta(minutes=5), 10)
    finally:
        store.close()
    assert len(claimed) == 1
    assert "sending: 1 message claimed until 20" in _run(project, "outbox").stdout


def test_an_issue_whose_part_lost_an_attribution_is_not_opened(project: Project) -> None:
    theme = project.root / "templates" / "email"
    theme.mkdir(parents=True)
    template = (REPO / "templates" / "email" / "digest.txt").read_text()
    (theme / "digest.txt").write_text(template.replace("{{ item.attribution }}", ""))
    _run(project, "subscribers", "add", "ada@example.com")
    refused = _run(project, "digest", "daily")
    assert refused.returncode == 2
    assert "digest daily (text part): lost the attribution of article" in refused.stderr
    assert "queued: 0  sending: 0  sent: 0" in _run(project, "outbox").stdout
    assert not (project.root / "var" / "outbox" / "new").exists()


def test_config_never_prints_the_password(project: Project) -> None:
    shown = _run(project, "config", env={"SMTP_PASSWORD": "hunter2"}).stdout
    assert "hunter2" not in shown
    assert "smtp.password = '(set; hidden)'" in shown


def test_a_digest_right_after_copying_a_file_carries_it(db_project: Project) -> None:
    project = db_project  # on SQLite and on PostgreSQL
    from tests.corpus import article_text

    _run(project, "subscribers", "add", "ada@example.com")
    project.write("just-copied.md", article_text(7))
    done = _run(project, "digest", "daily", env={"PUBLISHER_CONTENT__SETTLE_SECONDS": "2"})
    assert done.returncode == 0, done.stderr
    assert "with 5 articles for 1 subscriber" in done.stdout
