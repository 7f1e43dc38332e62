"""The archive of issues: every issue's public page, ``issues.html`` listing them by digest,
and an Atom feed of each digest's issues.

An issue's page is the public copy of its HTML part (no reader's links in it), rendered, inlined
and passed through the fidelity gate with the mail's own parts when the issue was opened
(:func:`publisher.mail.drafts.draft`), and stored with the issue: it shows what subscribers
were sent, however the articles or the theme change afterwards, so it is published as stored.
The list and the feeds are built here from the issues' stored subjects and pages.

A full build produces every output of the archive; any other build only the pages of issues
not published yet, and then the list and the feeds again.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterator
from dataclasses import dataclass
from datetime import datetime

from feedgen.feed import FeedGenerator
from jinja2 import Environment

from publisher.config.settings import Settings
from publisher.models import Output
from publisher.site.pages import HTML, issue_path
from publisher.site.render import render
from publisher.store.issues import Archived, Issues
from publisher.text import xml_safe

INDEX = "issues.html"
ATOM = "application/atom+xml; charset=utf-8"
BODY = re.compile(r"<body\b[^>]*>(.*)</body\s*>", re.DOTALL | re.IGNORECASE)


def issues_feed_path(digest: str) -> str:
    """The Atom feed of one digest's issues."""
    return f"issues/{digest}/atom.xml"


@dataclass(frozen=True)
class Shown:
    """An issue as the archive's list shows it."""

    subject: str
    opened: datetime
    path: str


def _body(page: str) -> str:
    """What a feed entry carries of a page: its ``<body>`` (a reader shows no document)."""
    found = BODY.search(page)
    return found.group(1).strip() if found else page


class IssueArchive:
    """Builds the archive's outputs from the stored issues."""

    def __init__(self, issues: Issues, env: Environment, settings: Settings) -> None:
        self.issues, self.env, self.settings = issues, env, settings
        self.sent = issues.archived()

    def outputs(self, published: Container[str] | None) -> Iterator[Output]:
        """The pages of the issues not in ``published`` (every one, for None: a full build),
        then the list and the feeds; nothing when every page is published already."""
        fresh = [
            i
            for i in self.sent
            if published is None or issue_path(i.digest, i.slot) not in published
        ]
        if published is not None and not fresh:
            return
        for issue in fresh:
            page = self.issues.page(issue.id)
            yield Output(issue_path(issue.digest, issue.slot), HTML, page.encode())
        yield self._index()
        for name in sorted({i.digest for i in self.sent}):
            yield self._feed(name, [i for i in self.sent if i.digest == name])

    def _index(self) -> Output:
        """``issues.html``: the configured digests first, in their order, then any digest no
        longer configured that sent issues; each with its issues, newest first."""
        described = {d.name: d.description for d in self.settings.digests}
        names = [*described, *sorted({i.digest for i in self.sent} - set(described))]
        digests = [
            (name, described.get(name, "No longer sent"), self._listed(name)) for name in names
        ]
        site = self.settings.site
        html = render(self.env, INDEX, site=site, digests=digests, root="", path=INDEX)
        return Output(INDEX, HTML, html.encode())

    def _listed(self, digest: str) -> list[Shown]:
        return [
            Shown(i.subject, i.opened, issue_path(i.digest, i.slot))
            for i in self.sent
            if i.digest == digest
        ]

    def _feed(self, digest: str, sent: list[Archived]) -> Output:
        """The Atom feed of ``digest``'s newest issues (``feeds.entries`` of them), each with
        its page's body as content. Dated by the newest issue, never the clock."""
        site, base = self.settings.site, self.settings.site.base_url
        path = issues_feed_path(digest)
        fg = FeedGenerator()
        fg.id(f"{base}{path}")
        fg.title(xml_safe(f"{site.title}: {digest} digest"))
        fg.subtitle(xml_safe(f"Every issue of the {digest} digest of {site.title}"))
        fg.language(site.language)
        fg.author({"name": xml_safe(site.author or site.title)})
        fg.generator("publisher")
        fg.link([{"href": f"{base}{path}", "rel": "self"}])
        fg.link({"href": f"{base}{INDEX}#digest-{digest}", "rel": "alternate"})
        newest = sent[: self.settings.feeds.entries]
        fg.updated(newest[0].opened)
        for issue in newest:
            url = f"{base}{issue_path(issue.digest, issue.slot)}"
            fe = fg.add_entry(order="append")
            fe.id(url)
            fe.title(xml_safe(issue.subject))
            fe.published(issue.opened)
            fe.updated(issue.opened)
            fe.link({"href": url, "rel": "alternate", "type": "text/html"})
            fe.content(xml_safe(_body(self.issues.page(issue.id))), type="html")
        body: bytes = fg.atom_str(pretty=True)
        return Output(path, ATOM, body)
