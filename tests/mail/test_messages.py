"""Digest messages as bytes: golden files, a round trip through the ``email`` package for any
text, header injection, and the signed links they carry.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.config.settings import Settings
from publisher.errors import RenderError
from publisher.mail.drafts import draft
from publisher.mail.issues import find_digest
from publisher.mail.messages import FIELDS, Letter, Links, placeholder
from publisher.mail.tokens import sign, token, verify
from publisher.models import Issue, Subscriber
from publisher.site.render import environment_for
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from tests.conftest import NOW, Project
from tests.outboxes import published_articles

NONCE = "0011223344556677"
READER = Subscriber(7, "reader@example.org", "active", "fixed-secret-for-golden-files")
LINKS = Links("https://harbornotes.example/", "digests@harbornotes.example")
VOLATILE = ("Date", "Message-ID")


def _parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def _issue(subject: str = "Subject", html: str = "<p>x</p>", text: str = "x") -> Issue:
    return Issue(41, "daily", "2026-03-29T12:00", NOW, NONCE, subject, html, text)


def _scrub(data: bytes) -> bytes:
    for name in VOLATILE:
        data = re.sub(rf"(?m)^{name}: .*$".encode(), f"{name}: (scrubbed)".encode(), data)
    return data


def _digest_issue(project: Project, name: str) -> tuple[Settings, Issue]:
    project.publish()
    settings = project.settings()
    store = Store.open(settings.database_url)
    try:
        outbox = Outbox(store.engine)
        uids = [stamp.uid for stamp in sorted(outbox.issues.published(NOW))]
        articles = outbox.issues.articles(uids)
    finally:
        store.close()
    digest = find_digest(settings, name)
    made = draft(environment_for(settings), settings, digest, articles, NONCE, NOW)
    assert made.problems == []
    return settings, Issue(
        41, name, "2026-03-29T12:00", NOW, NONCE, made.subject, made.html, made.text
    )


@pytest.mark.parametrize("name", ["daily", "weekly"])
def test_digest_message_matches_its_golden_file(
    project: Project, name: str, golden: Callable[[str, bytes], None]
) -> None:
    settings, issue = _digest_issue(project, name)
    letter = Letter(issue, settings.site.title, settings.mail.from_address, LINKS)
    golden(f"{name}.eml", _scrub(letter.bytes_for(READER)))


def test_message_lines_stay_within_the_limits_of_smtp_and_quoted_printable(
    project: Project,
) -> None:
    settings, issue = _digest_issue(project, "weekly")
    data = Letter(issue, "Harbor Notes", settings.mail.from_address, LINKS).bytes_for(READER)
    body = data.split(b"\r\n\r\n", 1)[1]
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    assert data.isascii()


TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=400
)


@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(st.tuples(TEXT, st.sampled_from(FIELDS)), max_size=5), tail=TEXT)
def test_any_text_survives_the_byte_level_personalisation(
    pieces: list[tuple[str, str]], tail: str
) -> None:
    text = "".join(p + placeholder(NONCE, f) for p, f in pieces) + tail + "\n"
    letter = Letter(_issue(text=text, html=text), "Site", "digests@example.org", LINKS)
    data = letter.bytes_for(READER)
    parts = list(_parse(data).iter_parts())
    expected = letter.personalise(text, READER)
    for part in parts:
        got = part.get_payload(decode=True)
        assert isinstance(got, bytes)
        # The line break before a MIME boundary belongs to the boundary (RFC 2046 §5.1.1).
        wanted = expected.replace("\r\n", "\n").removesuffix("\n")
        assert got.decode("utf-8").replace("\r\n", "\n") == wanted
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


HOSTILE = [
    "Hello\r\nBcc: victim@example.com",
    "Hello\n\n<html>body</html>",
    "Hello\r\n\r\nX-Injected: yes",
    "Trailing newline\n",
    "Null\x00byte",
    "=?UTF-8?Q?=0A?=Bcc: victim@example.com",
    "Tab\there and\x7f delete",
]


@pytest.mark.parametrize("subject", HOSTILE)
def test_subjects_and_names_cannot_inject_headers(subject: str) -> None:
    issue = _issue(subject=subject)
    data = Letter(issue, subject, "digests@example.org", LINKS).bytes_for(READER)
    message = BytesParser(policy=default).parsebytes(data)
    expected = [
        "From",
        "Subject",
        "Date",
        "List-Id",
        "List-Unsubscribe-Post",
        "MIME-Version",
        "To",
        "Message-ID",
        "List-Unsubscribe",
        "Content-Type",
    ]
    assert list(message.keys()) == expected
    for name in ("Subject", "From"):
        assert "\n" not in str(message[name]) and "\r" not in str(message[name])
    assert " ".join(subject.replace("\x00", " ").split()) in str(message["Subject"]) or (
        "\x7f" in subject
    )
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["To"] == READER.address
    assert message.defects == []


def test_links_are_signed_per_subscriber_and_purpose() -> None:
    secrets = {7: READER.secret}
    unsubscribe = token(READER, "unsubscribe")
    assert verify(unsubscribe, "unsubscribe", secrets) == 7
    assert verify(unsubscribe, "manage", secrets) is None
    assert verify("7." + sign("other-secret", "unsubscribe"), "unsubscribe", secrets) is None
    assert verify("8" + unsubscribe[1:], "unsubscribe", secrets) is None
    assert verify("not-a-token", "unsubscribe", secrets) is None
    assert READER.address not in LINKS.url("unsubscribe", READER)


def test_message_id_is_stable_per_issue_and_subscriber_and_names_no_address() -> None:
    letter = Letter(_issue(), "Site", "digests@example.org", LINKS)
    first = letter.message_id(READER)
    assert first == letter.message_id(READER)
    assert re.fullmatch(r"<41\.7\.[0-9a-f]{16}@example\.org>", first)
    other = Subscriber(8, "other@example.org", "active", "another-secret")
    assert letter.message_id(other) != first
    assert _parse(letter.bytes_for(READER))["Message-ID"] == first


def test_a_large_full_text_issue_falls_back_to_excerpts(project: Project) -> None:
    project.environ["PUBLISHER_MAIL__MAX_HTML_BYTES"] = "6000"
    settings, _issue_made = _digest_issue(project, "daily")
    articles = published_articles(settings)
    env = environment_for(settings)
    weekly = find_digest(settings, "weekly")
    assert weekly.full_text
    made = draft(env, settings, weekly, articles, NONCE, NOW)
    assert not made.full_text and made.problems == []
    assert "Read the whole article" in made.html


def test_a_broken_subject_template_names_the_digest(project: Project) -> None:
    config = project.root / "config" / "publisher.toml"
    config.write_text(config.read_text().replace("max_articles = 50", 'subject = "{{ oops"'))
    settings = project.settings()
    weekly = find_digest(settings, "weekly")
    with pytest.raises(RenderError, match=r"digests\.weekly\.subject"):
        draft(environment_for(settings), settings, weekly, [], NONCE, NOW)
