"""What readers see (issue 14, first part): digests labelled in words, a subscribe form that
keeps what was typed, mails that say what they are (confirm, then welcome), a preferences page
that states the status, a subscribe block on the site's pages, correct titles, canonical and
OpenGraph tags, and test sends marked as such."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from publisher.config import cron
from tests.conftest import Project
from tests.forms import post_form
from tests.smtpserver import MailServer


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("0 7 * * *", "Every day at 07:00"),
        ("0 8 * * mon", "Mondays at 08:00"),
        ("0 8 * * 1", "Mondays at 08:00"),
        ("30 6,18 * * 1-5", "Weekdays at 06:30 and 18:30"),
        ("0 9 * * sat,sun", "Weekends at 09:00"),
        ("15 12 * * tue,thu", "Tuesdays and Thursdays at 12:15"),
        ("0 10 1 * *", "On the 1st of each month at 10:00"),
        ("0 10 22 * *", "On the 22nd of each month at 10:00"),
        ("0 */4 * * *", "On the schedule 0 */4 * * *"),
        ("0 7 1 * mon", "On the schedule 0 7 1 * mon"),  # either day: no short way to say it
    ],
)
def test_a_schedule_in_words(line: str, said: str) -> None:
    assert cron.describe(line) == said


def test_labels_and_the_subscribe_form_keep_what_was_typed(
    signup: tuple[Any, Any, MailServer],
) -> None:
    client, _outbox, _server = signup
    page = client.get("/subscribe").text
    assert "Daily: Every day at 07:00" in page and "0 7 * * *" not in page
    refused = post_form(client, "/subscribe", {"email": "ada@@example", "digest": "weekly"})
    assert refused.status_code == 422
    again = html.unescape(refused.text)
    assert 'value="ada@@example"' in again
    assert re.search(r'value="weekly" checked', again) and not re.search(
        r'value="daily" checked', again
    )
    prefilled = client.get("/subscribe", params={"email": "bo@example.net"}).text
    assert 'value="bo@example.net"' in prefilled


def test_the_confirmation_speaks_of_confirming_and_the_welcome_says_what_comes(
    signup: tuple[Any, Any, MailServer],
) -> None:
    client, _outbox, server = signup
    post_form(client, "/subscribe", {"email": "ada@example.com", "digest": "weekly"})
    first = str(server.received[-1].message().get_content())
    assert "You are not subscribed yet" in first and "because you subscribed" not in first
    link = re.search(r"http://localhost:8000(/confirm/\S+)", first)
    assert link is not None
    post_form(client, link.group(1))
    welcome = server.received[-1].message()
    assert welcome["Subject"] == "Welcome to Harbor Notes"
    body = str(welcome.get_content())
    assert "Weekly: Mondays at 08:00" in body or "Weekly:" in body
    manage = re.search(r"http://localhost:8000(/manage/\S+)", body)
    assert manage is not None
    page = client.get(manage.group(1)).text
    assert "is subscribed to Harbor Notes" in page
    gone = post_form(client, manage.group(1), {})
    assert "is unsubscribed: no digest of Harbor Notes is sent to it" in html.unescape(gone.text)


def test_pages_offer_the_subscribe_block_and_carry_title_canonical_and_opengraph(
    project: Project,
) -> None:
    project.publish()
    home = (project.public / "index.html").read_text()
    assert "<title>Harbor Notes</title>" in home
    assert '<link rel="canonical" href="http://localhost:8000/index.html">' in home
    assert 'id="subscribe-block"' in home and 'action="http://localhost:8000/subscribe"' in home
    article = next((project.public / "articles").glob("*.html")).read_text()
    assert '<meta property="og:type" content="article">' in article
    assert 'id="subscribe-block"' in article
    tag = next((project.public / "tags").glob("*.html")).read_text()
    assert 'id="subscribe-block"' in tag and "<title>" in tag


def test_listings_show_summaries_and_tag_pages_advertise_their_own_feeds(
    project: Project,
) -> None:
    project.publish()
    home = (project.public / "index.html").read_text()
    assert home.count('<p class="summary">') >= 1
    tag = next((project.public / "tags").glob("*.html"))
    page = tag.read_text()
    own = f'href="http://localhost:8000/tags/{tag.stem}/atom.xml"'
    assert '<link rel="alternate" type="application/atom+xml" title="Harbor Notes: ' in page
    assert own in page.split("</head>")[0]


def test_an_address_without_html_is_redirected_to_its_page(
    signup: tuple[Any, Any, MailServer],
) -> None:
    client, _outbox, _server = signup
    answer = client.get("/archive", follow_redirects=False)
    assert answer.status_code == 308 and answer.headers["location"] == "/archive.html"
    assert client.get("/no-such-page", follow_redirects=False).status_code == 404
