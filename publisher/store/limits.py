"""Abuse limits on the public writes, and who a request comes from.

The subscribe form mails whatever address it is given, so without limits anyone can bury an
inbox in confirmation mails, or spend the site's reputation with its relay. Three limits,
besides the one confirmation per address an hour, each a fixed-window counter in the store so
every web process shares them:

- per **client** (``web.subscribes_per_client`` requests an hour): over it, 429;
- per **mailbox** (``web.confirmations_per_mailbox`` mails a day, plus-addresses and case
  folded, see :func:`publisher.addresses.mailbox_key`) and for the whole **site**
  (``web.confirmations_per_hour``): over them, the same answer as a success and nothing mailed,
  so the answer tells nobody anything about an address.

A counter is one row, raised by one upsert that returns the new count, so concurrent requests
(several processes, PostgreSQL's row locks or SQLite's one writer) never count the same hit
twice. A fixed window lets through at most twice its limit across a window's edge; that is the
price of one row per subject instead of one per hit. Rows whose window ended are purged a few
at a time by the requests that come later.

The client is the socket's peer; only when the peer is a trusted proxy (``web.trusted_proxies``)
is ``X-Forwarded-For`` read, from the right: each proxy appends the address it saw, so the
rightmost entry that is not itself a trusted proxy is the first address nobody could forge.
(uvicorn's own handling takes the leftmost entry, which the client writes; the server is
started with it off, see :func:`publisher.cli.service.web_server`.)
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, case, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from publisher.addresses import mailbox_key
from publisher.config.forms import Network, parse_proxies
from publisher.config.settings import WebSettings
from publisher.store.schema import limits

Ip = ipaddress.IPv4Address | ipaddress.IPv6Address
HOUR, DAY = 3600, 86_400
CONFIRM_COOLDOWN = timedelta(hours=1)  # one confirmation mail per address and hour, at most
IPV6_CLIENT = 64  # an IPv6 client is its /64: one line or host gets a whole /64 to rotate in
PURGE_BATCH = 100  # ended counters deleted per request, at most: a few per hit keeps up
MAX_SUBJECT = 100  # of a client that is not an IP address, the part that is kept
log = logging.getLogger(__name__)


def _ip(text: str) -> Ip | None:
    """The IP address of a peer or a forwarded entry (``[v6]:port`` and ``v4:port`` too);
    an IPv4-mapped IPv6 address is its IPv4 address."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        found = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def _trusted(address: Ip | None, proxies: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_address(peer: str, forwarded: Sequence[str], proxies: Sequence[Network]) -> str:
    """Whom a request is counted against: the socket's ``peer``, or — only when the peer is one
    of ``proxies`` — the rightmost ``X-Forwarded-For`` entry (of every such header, in order)
    that is not itself a trusted proxy. A client's own ``X-Forwarded-For`` is never read."""
    if not _trusted(_ip(peer), proxies):
        return _subject(peer)
    entries = [entry for value in forwarded for entry in value.split(",") if entry.strip()]
    for entry in reversed(entries):
        if not _trusted(_ip(entry), proxies):
            return _subject(entry)
    return _subject(entries[0] if entries else peer)  # sent by a trusted proxy itself


def _subject(address: str) -> str:
    """One client's key: an IPv4 address, an IPv6 /64, or whatever else the peer is called."""
    found = _ip(address)
    if found is None:
        return address.strip()[:MAX_SUBJECT]
    if isinstance(found, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{found}/{IPV6_CLIENT}", strict=False))
    return str(found)


@dataclass(frozen=True)
class Rule:
    """At most ``limit`` hits per ``seconds``-long window, for each subject of ``scope``."""

    scope: str
    limit: int
    seconds: int
    setting: str  # named in the log when the limit is first reached in a window


@dataclass(frozen=True)
class Hit:
    """What counting one hit said: allowed or not, and when the window ends."""

    allowed: bool
    retry_after: int  # seconds until the window ends (at least 1)


class Limits:
    """The limits of ``web.*`` over the store's engine; :meth:`client` in a transaction of its
    own, :meth:`admit` inside the transaction that stores the reader's request."""

    def __init__(self, engine: Engine, web: WebSettings) -> None:
        self.engine = engine
        self.proxies = parse_proxies(web.trusted_proxies)
        self.cooldown = CONFIRM_COOLDOWN
        self.pending_for = timedelta(hours=web.pending_hours)
        self.per_client = Rule("client", web.subscribes_per_client, HOUR, "subscribes_per_client")
        self.per_mailbox = Rule(
            "mailbox", web.confirmations_per_mailbox, DAY, "confirmations_per_mailbox"
        )
        self.per_site = Rule("site", web.confirmations_per_hour, HOUR, "confirmations_per_hour")

    def client(self, address: str, now: datetime) -> Hit:
        """Count one subscribe request of the client ``address`` (see :func:`client_address`);
        counters whose window ended are purged in the same short transaction."""
        with self.engine.begin() as conn:
            purge(conn, now)
            return hit(conn, self.per_client, address, now)

    def admit(self, conn: Connection, address: str, now: datetime) -> bool:
        """Whether one more confirmation mail may go to ``address``: its mailbox's count first,
        then the site's (a mailbox being bombed does not use up the site's mails)."""
        return (
            hit(conn, self.per_mailbox, mailbox_key(address), now).allowed
            and hit(conn, self.per_site, "", now).allowed
        )


def _window_end(now: datetime, seconds: int) -> datetime:
    start = int(now.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(start + seconds, UTC)


def hit(conn: Connection, rule: Rule, subject: str, now: datetime) -> Hit:
    """Count one hit of ``subject`` under ``rule``: one upsert, which starts the count again
    when the stored window has ended."""
    until = _window_end(now, rule.seconds)
    digest = hashlib.sha256(subject.encode()).hexdigest()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(limits).values(scope=rule.scope, subject=digest, until=until, hits=1)
    same_window = limits.c.until == statement.excluded.until
    statement = statement.on_conflict_do_update(
        index_elements=[limits.c.scope, limits.c.subject],
        set_={"hits": case((same_window, limits.c.hits + 1), else_=1), "until": until},
    ).returning(limits.c.hits)
    hits = int(conn.execute(statement).scalar_one())
    if hits == rule.limit + 1:  # once a window: a log line per refusal would be a flood
        log.warning("web.%s (%d) reached: more are refused this window", rule.setting, rule.limit)
    retry_after = max(1, int((until - now).total_seconds()))
    return Hit(hits <= rule.limit, retry_after)


def purge(conn: Connection, now: datetime) -> int:
    """Delete up to :data:`PURGE_BATCH` counters whose window has ended; how many."""
    ended = select(limits.c.scope, limits.c.subject).where(limits.c.until <= now).limit(PURGE_BATCH)
    done = conn.execute(delete(limits).where(tuple_(limits.c.scope, limits.c.subject).in_(ended)))
    return int(done.rowcount)
