"""Subscriber addresses: what a valid address is, the one form it is stored in, the inbox it
reaches (for counting what is mailed to it), and the forms the envelope and the headers write it
in.

Shared by config, store, mail and web, so every door an address comes in by (a setting, the
subscribe form, an import, the CLI) refuses the same things. No I/O and no SQL: the store keeps
subscribers; this module only decides what an address is.
"""

from __future__ import annotations

from email.headerregistry import Address
from typing import NamedTuple

from email_validator import EmailNotValidError, validate_email

MAX_ADDRESS = 254  # RFC 5321's limit for a forward path
ENCODED_WORD = "=?"  # how every RFC 2047 encoded word starts
SUBADDRESS = "+"  # ``victim+1@`` and ``victim+2@`` are ``victim@``'s mailbox


class AddressError(ValueError):
    """An address that cannot receive mail from us, with the reason."""


def normalise_address(text: str) -> str:
    """The address in the one form the store keeps: one RFC 5321/6531 mailbox, domain
    lowercased (IDNA-checked), local part as written. No DNS look-up: deliverability is the
    relay's business.

    email-validator refuses display names, angle brackets, quoted local parts, comments,
    commas and unsafe characters; what it lets through that a mail reader would still decode
    into something else — an RFC 2047 encoded word (``=?utf-8?q?boss=40bank.example=2C_?=``
    is a valid dot-atom, and becomes ``boss@bank.example,`` in a ``To:``) — is refused here.

    :raises AddressError: for anything that is not one plain address, CR/LF included.
    """
    candidate = text.strip()
    if not candidate or len(candidate) > MAX_ADDRESS or any(c in candidate for c in "\r\n\0"):
        raise AddressError(f"not an email address: {text[:60]!r}")
    if ENCODED_WORD in candidate:
        raise AddressError(f"{candidate[:60]!r}: an encoded word (=?…?=) is not an address")
    try:
        return str(validate_email(candidate, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise AddressError(f"{candidate[:60]!r}: {exc}") from exc


def mailbox_key(address: str) -> str:
    """The inbox a stored address reaches, for counting what is mailed to it: the local part
    without its ``+tag`` and both parts lowercased, so ``Victim+1@Example.org`` and
    ``victim+2@example.org`` are ``victim@example.org``. (Other providers' folding, such as
    Gmail's ignored dots, is theirs to know; ``+`` is the common convention.)"""
    local, _, domain = address.rpartition("@")
    return f"{local.split(SUBADDRESS, 1)[0].lower()}@{domain.lower()}"


class Mailbox(NamedTuple):
    """An address as the envelope and the ``To:`` header write it."""

    address: str  # the domain in its ASCII (IDNA) form, which every relay takes
    smtputf8: bool  # the local part is not ASCII: only a relay offering SMTPUTF8 can take it


def envelope_address(address: str) -> Mailbox:
    """The form a stored address (see :func:`normalise_address`) is sent in.

    A non-ASCII *domain* needs nothing of the relay: its A-labels (``xn--bcher-kva.example``)
    name the same domain. A non-ASCII *local part* has no ASCII form, so the message needs a
    relay that offers SMTPUTF8 (RFC 6531) and may carry the address as UTF-8 (RFC 6532).

    :raises AddressError: for an address :func:`normalise_address` would not have stored.
    """
    if address.isascii():
        return Mailbox(address, False)
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise AddressError(f"{address[:60]!r}: {exc}") from exc
    return Mailbox(f"{checked.local_part}@{checked.ascii_domain}", bool(checked.smtputf8))


def mailbox(address: str) -> Address:
    """The header form of a stored address, as :mod:`email.headerregistry` parses it: exactly
    one mailbox, its domain in ASCII (as :func:`envelope_address` sends it), a UTF-8 local part
    only where the message goes with SMTPUTF8. ``To:`` and ``From:`` are written from this.

    :raises AddressError: for anything that is not exactly one mailbox, or that a reader would
        decode into another (an encoded word), e.g. an address stored before they were refused.
    """
    sent = envelope_address(address)
    if ENCODED_WORD in sent.address:
        raise AddressError(f"{address[:60]!r}: an encoded word (=?…?=) is not an address")
    try:
        if sent.smtputf8:  # the parser takes ASCII only; email-validator checked this one
            local, _, domain = sent.address.rpartition("@")
            return Address(username=local, domain=domain)
        return Address(addr_spec=sent.address)
    except ValueError as exc:  # the header parser's defects are ValueErrors too
        raise AddressError(f"{address[:60]!r}: {exc}") from exc
