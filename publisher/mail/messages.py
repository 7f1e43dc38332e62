"""Digest messages: built once per issue, personalised per subscriber at the byte level.

Building a message with the ``email`` package costs about 2 ms; a digest goes to many thousands
of readers and differs between them only in the address and a few signed links. So an issue is
compiled once into header bytes and quoted-printable segments, and a message is those segments
joined around the subscriber's own values, each value on a line of its own joined by soft line
breaks. Parsing the result back with the ``email`` package gives the text the templates made.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from email import quoprimime
from email.header import Header
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from urllib.parse import quote

from publisher.addresses import AddressError, mailbox
from publisher.config.settings import Settings
from publisher.mail.tokens import message_id, token
from publisher.models import Issue, Subscriber

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
FIELDS = ("address", "unsubscribe", "manage")
QP_LINE = 75  # leaves room for the soft line break put after each static segment


def placeholder(nonce: str, name: str) -> str:
    """What templates hold where a subscriber's own value goes; unguessable per issue."""
    return f"@@{nonce}-{name}@@"


def header_text(value: str) -> str:
    """A header value that cannot break out of its header: control characters become spaces."""
    return " ".join(CONTROL.sub(" ", value).split())


def _plain_ascii(value: str) -> bool:
    """Safe to write as it is: ASCII with nothing a reader would decode as an encoded word."""
    return value.isascii() and "=?" not in value


def _header(name: str, value: str) -> bytes:
    """One unstructured header, RFC 2047-encoded where needed and folded, as bytes with CRLF.

    Text that merely looks like an encoded word (``=?UTF-8?Q?=0A?=``) is encoded itself, so a
    reader shows it literally instead of decoding a line break into the header.
    """
    value = header_text(value)
    if _plain_ascii(value):
        folded: str = SMTP.header_factory(name, value).fold(policy=SMTP)
        return folded.encode("ascii")
    encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}\r\n".encode("ascii")


def _sender(display_name: str, address: str) -> bytes:
    """The From header: the display name quoted or encoded, the address as one mailbox (see
    :func:`publisher.addresses.mailbox`)."""
    name = header_text(display_name)
    spec = mailbox(address).addr_spec
    if _plain_ascii(name):
        shown = formataddr((name, spec))
    else:
        shown = f"{Header(name, 'utf-8').encode()} <{spec}>"
    return f"From: {shown}\r\n".encode()


def recipient(address: str) -> bytes:
    """The To header of a subscriber's message: their one mailbox, as
    :func:`publisher.addresses.mailbox` writes it (an IDNA domain; UTF-8 only in a local
    part that needs SMTPUTF8). An address stored before addresses were checked this strictly
    is still mailed, but named in no header: no stored text can become a second recipient."""
    try:
        return f"To: {mailbox(address).addr_spec}\r\n".encode()
    except AddressError:
        return b"To: undisclosed-recipients:;\r\n"


def _qp(data: str) -> bytes:
    """Quoted-printable with CRLF line ends, lines short enough to append a soft break."""
    latin = data.replace("\r\n", "\n").encode("utf-8").decode("latin-1")
    return quoprimime.body_encode(latin, maxlinelen=QP_LINE, eol="\r\n").encode("latin-1")


def _qp_value(value: str) -> bytes:
    """A short personal value (a URL or an address) encoded on its own line."""
    raw = value.encode("utf-8")
    if len(raw) < 60 and raw.isascii():
        return binascii.b2a_qp(raw)
    return _qp(value)


@dataclass(frozen=True)
class Links:
    """Where a subscriber's links point: the site's pages and the sender's mailbox."""

    base_url: str
    mailbox: str

    def url(self, purpose: str, subscriber: Subscriber) -> str:
        return self.link(purpose, token(subscriber, purpose))

    def link(self, purpose: str, signed: str) -> str:
        """The page for ``purpose`` of the subscriber ``signed`` (a :func:`token`) names."""
        return f"{self.base_url}{purpose}/{signed}"

    def mailto(self, subscriber: Subscriber) -> str:
        return self.unsubscribe_mail(token(subscriber, "unsubscribe"))

    def unsubscribe_mail(self, signed: str) -> str:
        """The ``mailto:`` unsubscribe link for the subscriber ``signed`` names."""
        subject = quote(f"unsubscribe {signed}")
        return f"mailto:{self.mailbox}?subject={subject}"


class Letter:
    """One issue compiled for sending: :meth:`bytes_for` makes a subscriber's message."""

    def __init__(self, issue: Issue, sender_name: str, sender: str, links: Links) -> None:
        self.issue, self.links, self.sender = issue, links, sender
        self.domain = sender.rpartition("@")[2]
        boundary = f"=_publisher_{issue.nonce}"  # "=_" never occurs in quoted-printable
        site = sender_name or self.domain
        self.head = b"".join(
            [
                _sender(sender_name, sender),
                _header("Subject", issue.subject),
                _header("Date", format_datetime(issue.opened)),
                _header("List-Id", f"{site} {issue.digest} <{issue.digest}.{self.domain}>"),
                b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
                b"MIME-Version: 1.0\r\n",
            ]
        )
        open_part = f"--{boundary}\r\nContent-Type: text/{{}}; charset=utf-8\r\n"
        open_part += "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        # RFC 2046: alternatives in increasing order of preference, the plain text first.
        self.parts = [
            (open_part.format("plain").encode(), self._segments(issue.text)),
            (open_part.format("html").encode(), self._segments(issue.html)),
        ]
        self.content_type = (
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'.encode()
        )
        # Every segment ends in CRLF, which the next delimiter takes as its own.
        self.close = f"--{boundary}--\r\n".encode()

    def _segments(self, text: str) -> list[bytes | str]:
        """Static text as encoded bytes, the subscriber's values as field names between them."""
        names = "|".join(re.escape(placeholder(self.issue.nonce, f)) for f in FIELDS)
        pieces: list[bytes | str] = []
        for number, piece in enumerate(re.split(f"({names})", text)):
            if number % 2:
                pieces.append(piece.rsplit("-", 1)[1].rstrip("@"))
            elif piece:
                encoded = _qp(piece)
                pieces.append(encoded if encoded.endswith(b"\r\n") else encoded + b"=\r\n")
        return pieces

    def values(self, subscriber: Subscriber, unsubscribe: str = "") -> dict[str, str]:
        """The personal values placeholders stand for; ``unsubscribe`` is the subscriber's
        unsubscribe token when the caller made it already."""
        signed = unsubscribe or token(subscriber, "unsubscribe")
        return {
            "address": subscriber.address,
            "unsubscribe": self.links.link("unsubscribe", signed),
            "manage": self.links.url("manage", subscriber),
        }

    def personalise(self, text: str, subscriber: Subscriber) -> str:
        """One of the issue's parts with this subscriber's values in (for previews)."""
        for name, value in self.values(subscriber).items():
            text = text.replace(placeholder(self.issue.nonce, name), value)
        return text

    def bytes_for(self, subscriber: Subscriber) -> bytes:
        """The whole message for one subscriber, ready for ``DATA``."""
        return self.message(subscriber)[1]

    def message(self, subscriber: Subscriber) -> tuple[str, bytes]:
        """The Message-ID and the whole message for one subscriber, each signature made once
        (the sender makes thousands of these a second).
        """
        key = message_id(self.issue.id, subscriber, self.domain)
        signed = token(subscriber, "unsubscribe")
        values = self.values(subscriber, signed)
        encoded = {name: _qp_value(value) + b"=\r\n" for name, value in values.items()}
        out = [
            self.head,
            recipient(subscriber.address),
            b"Message-ID: ",
            key.encode(),
            b"\r\nList-Unsubscribe: <",
            values["unsubscribe"].encode(),
            b">,\r\n <",
            self.links.unsubscribe_mail(signed).encode(),
            b">\r\n",
            self.content_type,
            b"\r\n",
        ]
        for opening, segments in self.parts:
            out.append(opening)
            out += [s if isinstance(s, bytes) else encoded[s] for s in segments]
        out.append(self.close)
        return key, b"".join(out)

    def message_id(self, subscriber: Subscriber) -> str:
        """The Message-ID :meth:`bytes_for` gives this subscriber's message."""
        return message_id(self.issue.id, subscriber, self.domain)


def links_for(settings: Settings) -> Links:
    """Where subscribers' links point."""
    return Links(settings.site.base_url, settings.mail.from_address)


def letter_for(settings: Settings, issue: Issue, links: Links | None = None) -> Letter:
    """The issue compiled for sending, from the configured sender."""
    name = settings.mail.from_name or settings.site.title
    return Letter(issue, name, settings.mail.from_address, links or links_for(settings))
