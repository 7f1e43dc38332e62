"""Counted nouns in one place (issue 14): subjects, pages and command lines say "1 new story",
"2 new stories", "1,204 subscribers" through :func:`publisher.text.plural` and its filter."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from publisher.config.settings import DigestSettings
from publisher.site.render import make_environment
from publisher.text import plural


@pytest.mark.parametrize(
    ("count", "one", "many", "said"),
    [
        (0, "article", None, "0 articles"),
        (1, "article", None, "1 article"),
        (2, "try", "tries", "2 tries"),
        (1, "new story", "new stories", "1 new story"),
        (1204, "subscriber", None, "1,204 subscribers"),
    ],
)
def test_plural(count: int, one: str, many: str | None, said: str) -> None:
    assert plural(count, one, many) == said


def test_the_default_subject_counts_its_articles_right(tmp_path: Path) -> None:
    (subject,) = [f.default for f in fields(DigestSettings) if f.name == "subject"]
    assert isinstance(subject, str)
    template = make_environment(tmp_path).from_string(subject)
    site = {"title": "Harbor Notes"}
    assert template.render(site=site, articles=[1]) == "Harbor Notes: 1 new article"
    assert template.render(site=site, articles=[1, 2]) == "Harbor Notes: 2 new articles"
