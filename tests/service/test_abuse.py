"""Abuse limits on the subscribe form (issue 10, findings 1 and 5; PITFALLS 54, 55): per client,
per mailbox and for the whole site, shared through the store; ``X-Forwarded-For`` believed from
trusted proxies only, read from the right; pending requests expire; HEAD never subscribes.

Over a real socket (uvicorn, as ``publisher serve`` runs it) with a real SMTP server, on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from publisher.addresses import mailbox_key
from publisher.config.forms import parse_proxies
from publisher.errors import ConfigError
from publisher.mail.confirmation import confirm_url
from publisher.store.limits import PURGE_BATCH, Limits, Rule, client_address, hit, purge
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from publisher.store.schema import limits
from tests.conftest import NOW, Project
from tests.smtpserver import MailServer
from tests.sockets import client, served

SENT = "Check your inbox"


@pytest.fixture
def site(db_project: Project, mail_server: MailServer) -> Iterator[tuple[Project, Outbox]]:
    """The project on both stores, mailing the test's SMTP server; the store's outbox."""
    db_project.environ.update(mail_server.environ())
    settings = db_project.settings()
    store = Store.open(settings.database_url)
    try:
        yield db_project, Outbox(store.engine)
    finally:
        store.close()


def _limits(project: Project, outbox: Outbox) -> Limits:
    return Limits(outbox.engine, project.settings().web)


# -- the client address --------------------------------------------------------------------

PROXIES = parse_proxies("10.0.0.0/8, 2001:db8:1::/48")


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.5", [], "203.0.113.5"),
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),  # a direct client's header: ignored
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # the client wrote 6.6.6.6
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1, 10.0.0.9"], "198.51.100.1"),  # two proxies
        ("10.0.0.2", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),  # two headers, in order
        ("10.0.0.2", ["198.51.100.1:4711"], "198.51.100.1"),
        ("10.0.0.2", ["10.0.0.7"], "10.0.0.7"),  # a request from a proxy itself
        ("10.0.0.2", [], "10.0.0.2"),
        ("::ffff:10.0.0.2", ["198.51.100.1"], "198.51.100.1"),  # IPv4-mapped: the IPv4 proxy
        ("2001:db8:1::7", ["[2001:db8:9:9:1::1]:80"], "2001:db8:9:9::/64"),
        ("2001:db8:5:5::1", [], "2001:db8:5:5::/64"),  # an IPv6 client is its /64
        ("10.0.0.2", ["unknown"], "unknown"),  # what the proxy wrote, though not an address
        ("testclient", [], "testclient"),
    ],
)
def test_the_client_is_the_peer_or_the_rightmost_untrusted_forwarded_address(
    peer: str, forwarded: list[str], expected: str
) -> None:
    assert client_address(peer, forwarded, PROXIES) == expected


def test_trusted_proxies_are_checked_at_load_naming_the_key(project: Project) -> None:
    project.environ["PUBLISHER_WEB__TRUSTED_PROXIES"] = " 10.0.0.0/8 ,::1"
    assert project.settings().web.trusted_proxies == "10.0.0.0/8, ::1/128"
    for bad in ("10.0.0.1/8", "proxy.example", "10.0.0.0/33"):
        project.environ["PUBLISHER_WEB__TRUSTED_PROXIES"] = bad
        with pytest.raises(ConfigError, match=r"web\.trusted_proxies") as raised:
            project.settings()
        assert "10.0.0.0/8" in raised.value.hint


# -- the counters, in the store -------------------------------------------------------------


def test_plus_addresses_and_case_are_one_mailbox() -> None:
    given = ("Victim+1@Example.org", "victim+2@example.org", "VICTIM@example.ORG")
    keys = {mailbox_key(address) for address in given}
    assert keys == {"victim@example.org"}
    assert mailbox_key("victim@example.net") != "victim@example.org"


def test_a_counter_counts_its_window_and_starts_again_in_the_next(
    site: tuple[Project, Outbox],
) -> None:
    _, outbox = site
    rule = Rule("client", 2, 3600, "subscribes_per_client")
    with outbox.engine.begin() as conn:
        answers = [hit(conn, rule, "192.0.2.1", NOW + timedelta(minutes=m)) for m in (0, 1, 2)]
        other = hit(conn, rule, "192.0.2.2", NOW)
        later = hit(conn, rule, "192.0.2.1", NOW + timedelta(hours=1))
    assert [a.allowed for a in answers] == [True, True, False]
    assert answers[2].retry_after == 58 * 60  # NOW is on the hour; the window ends at the next
    assert other.allowed and later.allowed


def test_ended_counters_are_purged_a_batch_at_a_time(site: tuple[Project, Outbox]) -> None:
    _, outbox = site
    rule = Rule("client", 5, 3600, "subscribes_per_client")
    with outbox.engine.begin() as conn:
        for n in range(PURGE_BATCH + 20):
            hit(conn, rule, f"192.0.2.{n}", NOW)
        hit(conn, rule, "198.51.100.1", NOW + timedelta(hours=1))
    count = select(func.count()).select_from(limits)
    with outbox.engine.begin() as conn:
        assert purge(conn, NOW + timedelta(minutes=59)) == 0  # the window has not ended
        assert purge(conn, NOW + timedelta(hours=1)) == PURGE_BATCH
        assert purge(conn, NOW + timedelta(hours=1)) == 20
        assert conn.execute(count).scalar_one() == 1  # the one of the new window


def test_concurrent_hits_are_each_counted_once(site: tuple[Project, Outbox]) -> None:
    _, outbox = site
    rule = Rule("site", 10, 3600, "confirmations_per_hour")
    start = threading.Barrier(8)

    def hits(_: int) -> list[bool]:
        start.wait(timeout=30)
        answers = []
        for _n in range(5):
            with outbox.engine.begin() as conn:
                answers.append(hit(conn, rule, "", NOW).allowed)
        return answers

    with ThreadPoolExecutor(8) as pool:
        allowed = [a for answers in pool.map(hits, range(8)) for a in answers]
    assert allowed.count(True) == 10 and len(allowed) == 40


def test_the_site_limit_stops_confirmations_to_every_mailbox_and_stores_nothing(
    site: tuple[Project, Outbox],
) -> None:
    project, outbox = site
    project.environ["PUBLISHER_WEB__CONFIRMATIONS_PER_HOUR"] = "2"
    rules = _limits(project, outbox)
    asked = [
        outbox.subscribers.request(f"r{n}@example.org", ["daily"], NOW, rules) for n in range(4)
    ]
    assert [reader is not None for reader in asked] == [True, True, False, False]
    assert [s.address for s in outbox.subscribers.each()] == ["r0@example.org", "r1@example.org"]
    later = NOW + timedelta(hours=1)
    assert outbox.subscribers.request("r3@example.org", ["daily"], later, rules) is not None


# -- over the socket -----------------------------------------------------------------------


def test_a_thousand_subscribes_for_one_mailbox_send_at_most_its_share(
    site: tuple[Project, Outbox], mail_server: MailServer
) -> None:
    project, outbox = site
    project.environ["PUBLISHER_WEB__SUBSCRIBES_PER_CLIENT"] = "100000"  # not what is tested
    settings = project.settings()
    share = settings.web.confirmations_per_mailbox
    with served(settings) as port, client(port, settings) as browser:
        answers = set()
        for n in range(1000):
            local = "Victim" if n % 2 else "victim"
            answer = browser.subscribe(f"{local}+{n}@Example.org")
            answers.add((answer.status, answer.text))
    assert len(answers) == 1 and SENT in answers.pop()[1]  # every answer a success, the same
    assert len(mail_server.received) == share
    recipients = {mailbox_key(r.recipients[0]) for r in mail_server.received}
    assert recipients == {"victim@example.org"}
    assert len(list(outbox.subscribers.each())) == share  # nothing stored for the refused ones


def test_a_client_over_its_limit_gets_429_while_another_still_gets_through(
    site: tuple[Project, Outbox], mail_server: MailServer
) -> None:
    project, _ = site
    project.environ["PUBLISHER_WEB__SUBSCRIBES_PER_CLIENT"] = "5"
    settings = project.settings()
    with served(settings) as port:
        with client(port, settings, "127.0.0.1") as first:
            assert [first.subscribe(f"a{n}@example.org").status for n in range(5)] == [200] * 5
            refused = first.subscribe("a5@example.org")
            malformed = first.subscribe("not-an-address")  # refused before its form is read
        with client(port, settings, "127.0.0.2") as second:
            other = second.subscribe("b@example.org")
    assert refused.status == 429 and "Too many requests" in refused.text
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert malformed.status == 429
    assert other.status == 200 and SENT in other.text
    assert sorted(r.recipients[0] for r in mail_server.received) == [
        *(f"a{n}@example.org" for n in range(5)),
        "b@example.org",
    ]


def test_forwarded_for_is_believed_only_from_a_trusted_proxy_and_read_from_the_right(
    site: tuple[Project, Outbox],
) -> None:
    project, _ = site
    project.environ["PUBLISHER_WEB__SUBSCRIBES_PER_CLIENT"] = "3"
    project.environ["PUBLISHER_WEB__TRUSTED_PROXIES"] = "127.0.0.1"
    settings = project.settings()
    with served(settings) as port:
        with client(port, settings, "127.0.0.2") as direct:  # not a proxy: its header is ignored
            spoofed = [direct.subscribe(f"d{n}@example.org", f"192.0.2.{n}") for n in range(4)]
        with client(port, settings, "127.0.0.1") as proxy:
            rotating = [
                proxy.subscribe(f"p{n}@example.org", f"192.0.2.{n}, 203.0.113.9") for n in range(4)
            ]
            behind = proxy.subscribe("q@example.org", "198.51.100.7")  # another reader behind it
    assert [a.status for a in spoofed] == [200, 200, 200, 429]
    assert [a.status for a in rotating] == [200, 200, 200, 429]
    assert behind.status == 200


def test_expired_pending_requests_are_purged_and_their_links_stop_working(
    site: tuple[Project, Outbox], mail_server: MailServer
) -> None:
    project, outbox = site
    project.environ["PUBLISHER_WEB__PENDING_HOURS"] = "1"
    settings = project.settings()
    rules = _limits(project, outbox)
    now = datetime.now(UTC)  # the web process's own clock
    old = outbox.subscribers.request("old@example.org", ["daily"], now - timedelta(hours=2), rules)
    outbox.subscribers.add([("back@example.org", ["daily"])], "active", now - timedelta(days=9))
    (back,) = [s for s in outbox.subscribers.each() if s.address == "back@example.org"]
    outbox.subscribers.unsubscribe(back.id, now - timedelta(days=3))
    asked = outbox.subscribers.request(
        "back@example.org", ["weekly"], now - timedelta(hours=2), rules
    )
    fresh = outbox.subscribers.request(
        "fresh@example.org", ["daily"], now - timedelta(minutes=10), rules
    )
    assert old is not None and asked is not None and fresh is not None
    links = {
        reader.address: confirm_url(settings, reader, when).removeprefix(settings.site.base_url)
        for reader, when in [
            (old, now - timedelta(hours=2)),
            (fresh, now - timedelta(minutes=10)),
        ]
    }
    with served(settings) as port, client(port, settings) as browser:
        # an expired link's page carries no form to post (so a post would be refused as forged)
        expired = browser.request("GET", f"/{links['old@example.org']}")  # before any purge
        assert browser.subscribe("new@example.org").status == 200
        gone = browser.request("GET", f"/{links['old@example.org']}")
        works = browser.form(f"/{links['fresh@example.org']}", {})
    assert expired.status == 400 and gone.status == 400
    assert works.status == 200
    states = {s.address: s.status for s in outbox.subscribers.each()}
    assert states == {
        "back@example.org": "unsubscribed",  # as before it asked: never re-added by an import
        "fresh@example.org": "active",
        "new@example.org": "pending",
    }


def test_head_subscribe_never_subscribes(
    site: tuple[Project, Outbox], mail_server: MailServer
) -> None:
    project, outbox = site
    settings = project.settings()
    with served(settings) as port, client(port, settings) as browser:
        answer = browser.subscribe("ada@example.org", method="HEAD")
        form = browser.request("GET", "/subscribe")
    assert answer.status == 200 and answer.body == b""
    assert form.status == 200
    assert list(outbox.subscribers.each()) == [] and mail_server.received == []


def test_a_mailbox_over_its_share_gets_no_confirmation_and_nothing_is_stored(
    site: tuple[Project, Outbox],
) -> None:
    project, outbox = site
    rules = Limits(outbox.engine, replace(project.settings().web, confirmations_per_mailbox=1))
    assert outbox.subscribers.request("x+1@example.org", ["daily"], NOW, rules) is not None
    assert outbox.subscribers.request("X+2@Example.org", ["daily"], NOW, rules) is None
    assert (
        outbox.subscribers.request("y@example.org", ["daily"], NOW, rules) is not None
    )  # another mailbox
    assert [s.address for s in outbox.subscribers.each()] == ["x+1@example.org", "y@example.org"]
    tomorrow = NOW + timedelta(days=1)
    assert outbox.subscribers.request("x+2@example.org", ["daily"], tomorrow, rules) is not None
