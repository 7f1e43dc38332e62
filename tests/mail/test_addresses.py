"""Addresses are RFC 5321/6531 mailboxes (issue 10, finding 2; PITFALLS 70): encoded words,
display names, brackets, quotes and comments are refused before anything is stored, and every
``To:`` the site writes names exactly one mailbox, with no line break — the confirmation mail's
and each digest's.
"""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, message_from_string
from email.message import EmailMessage
from email.policy import default

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher.addresses import AddressError, mailbox, normalise_address
from publisher.config.settings import Settings
from publisher.mail.confirmation import confirmation
from publisher.mail.messages import Letter, Links
from publisher.models import Issue, Subscriber
from publisher.site.render import environment_for
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from tests.conftest import NOW, Project
from tests.smtpserver import MailServer
from tests.sockets import client, served

ISSUE = Issue(41, "daily", "2026-03-29T12:00", NOW, "0011223344556677", "Hi", "<p>x</p>", "x")
LINKS = Links("https://harbornotes.example/", "digests@harbornotes.example")

# What the attack sweep sent (the first became `To: boss@bank.example, @example.org`; the
# second a 500 after the pending row was saved), and the other ways to be more than a mailbox.
HOSTILE = [
    "=?utf-8?q?boss=40bank.example=2C_?=@example.org",
    "=?utf-8?q?ada=0D=0ABcc:_victim@bank.example?=@example.org",
    "=?UTF-8?B?Ym9zc0BiYW5rLmV4YW1wbGUs?=@example.org",
    "Boss <boss@bank.example>",
    "<ada@example.org>",
    '"boss@bank.example, ada"@example.org',
    "ada(boss@bank.example)@example.org",
    "ada@example.org, boss@bank.example",
    "ada@example.org\r\nBcc: boss@bank.example",
    "ada@example.org\nBcc: boss@bank.example",
]


@pytest.fixture
def signup(db_project: Project, mail_server: MailServer) -> Iterator[tuple[Settings, Outbox]]:
    db_project.environ.update(mail_server.environ())
    db_project.environ["PUBLISHER_WEB__SUBSCRIBES_PER_CLIENT"] = "1000"  # test_abuse's part
    settings = db_project.settings()
    store = Store.open(settings.database_url)
    try:
        yield settings, Outbox(store.engine)
    finally:
        store.close()


def test_the_findings_payloads_are_refused_with_422_and_nothing_is_stored_or_mailed(
    signup: tuple[Settings, Outbox], mail_server: MailServer
) -> None:
    settings, outbox = signup
    with served(settings) as port, client(port, settings) as browser:
        answers = {address: browser.subscribe(address) for address in HOSTILE}
    for address, answer in answers.items():
        assert answer.status == 422, address
        assert "does not look like an email address" in answer.text
    assert list(outbox.subscribers.each()) == [] and mail_server.received == []


@pytest.mark.parametrize(
    ("given_address", "stored", "to"),
    [
        ("  Ada@EXAMPLE.org ", "Ada@example.org", "Ada@example.org"),
        ("user@BÜCHER.example", "user@bücher.example", "user@xn--bcher-kva.example"),
        ("user@xn--bcher-kva.example", "user@bücher.example", "user@xn--bcher-kva.example"),
        ("jörg@bücher.example", "jörg@bücher.example", "jörg@xn--bcher-kva.example"),
    ],
)
def test_the_normalised_form_is_stored_and_the_mail_goes_to_its_one_mailbox(
    signup: tuple[Settings, Outbox],
    mail_server: MailServer,
    given_address: str,
    stored: str,
    to: str,
) -> None:
    settings, outbox = signup
    with served(settings) as port, client(port, settings) as browser:
        assert browser.subscribe(given_address).status == 200
    assert [s.address for s in outbox.subscribers.each()] == [stored]
    [received] = mail_server.received
    assert received.recipients == [to]
    assert f"\r\nTo: {to}\r\n".encode() in received.data  # UTF-8 only in a local part
    assert ("SMTPUTF8" in received.options) == (not to.isascii())
    assert received.data.isascii() == to.isascii()


# -- every accepted address is one recipient --------------------------------------------------

FRAGMENTS = [
    *"abcXYZ019.+-_'=?,;:<>\"()[]\\ \t\r\n@",
    *["ü", "ß", "é", "\u202e", "\u200b", "\x00", "\x1b"],
    *["=?", "?=", "=?utf-8?q?", "=?UTF-8?B?", "=40", "=2C", "=0D=0A", "_"],
]
DOMAINS = ["example.org", "Example.ORG", "bücher.example", "xn--bcher-kva.example", "bank.example"]
CANDIDATES = (
    st.builds(
        "{}@{}".format,
        st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=12).map("".join),
        st.sampled_from(DOMAINS),
    )
    | st.emails()
    | st.text(max_size=60)
)


def _to(message: EmailMessage) -> list[str]:
    header = message["To"]
    assert "\n" not in str(header) and "\r" not in str(header)
    return [address.addr_spec for address in header.addresses]


@given(text=CANDIDATES)
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_accepted_address_is_exactly_one_recipient_of_a_confirmation_and_a_digest(
    project: Project, text: str
) -> None:
    try:
        address = normalise_address(text)
    except AddressError:
        return
    reader = Subscriber(7, address, "pending", "secret", ("daily",))
    expected = [mailbox(address).addr_spec]
    site = project.settings()
    _key, confirm = confirmation(environment_for(site), site, reader, NOW)
    digest = Letter(ISSUE, "Harbor Notes", "digests@harbornotes.example", LINKS).bytes_for(reader)
    for data in (confirm, digest):
        # RFC 6532: the headers of a message sent with SMTPUTF8 are UTF-8 (the rest is ASCII).
        message = message_from_string(data.decode("utf-8"), policy=default)
        assert isinstance(message, EmailMessage)
        assert _to(message) == expected, data[:400]
        assert "=?" not in expected[0] and expected[0].rpartition("@")[2].isascii()


def test_an_address_stored_before_it_was_checked_is_named_in_no_header() -> None:
    """A store written by an older version may hold an encoded word: the digest still goes to
    it, but its ``To:`` is an empty group, so the stored text can make no recipient."""
    reader = Subscriber(7, "=?utf-8?q?boss=40bank.example=2C_?=@example.org", "active", "s")
    data = Letter(ISSUE, "Harbor Notes", "digests@harbornotes.example", LINKS).bytes_for(reader)
    message = message_from_bytes(data, policy=default)
    assert b"\r\nTo: undisclosed-recipients:;\r\n" in data
    assert _to(message) == [] and message.get_all("To") is not None
