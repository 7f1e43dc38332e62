"""The sample capture in ../shared/samples extracts exactly to its golden JSON."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from publisher.content.captures import extract, load_profiles
from publisher.content.reading import read_article
from tests.conftest import BERLIN, IN_CI, SHARED, SITE

SAMPLES = sorted((SHARED / "samples").glob("*.txt"))

if not SAMPLES and IN_CI:
    pytest.fail("../shared/samples is missing under CI", pytrace=False)
pytestmark = pytest.mark.skipif(not SAMPLES, reason="../shared/samples not beside the checkout")


def _extraction(path: Path) -> dict[str, object]:

    profile = next(
        p for p in load_profiles(SITE / "config" / "sources") if p.detect.search(path.read_text())
    )
    capture = extract(path.read_text(encoding="utf-8"), profile)
    data = {key: value for key, value in dataclasses.asdict(capture).items() if key != "warnings"}
    for key in ("published", "original_published"):
        data[key] = data[key].isoformat() if data[key] else None
    return {"file": path.name, **data}


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_extraction_equals_golden(path: Path) -> None:
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text(encoding="utf-8"))
    assert _extraction(path) == expected


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_becomes_an_article_carrying_everything(path: Path) -> None:
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text(encoding="utf-8"))
    result = read_article(path, path.name, load_profiles(SITE / "config" / "sources"), BERLIN)
    article = result.article
    assert article is not None
    assert article.attribution == expected["attribution"]
    assert list(article.disclaimer) == expected["disclaimer_paragraphs"]
    assert article.tags == (*expected["regions"], *expected["themes"], *expected["reports"])
    assert article.published.astimezone(BERLIN).date().isoformat() == expected["published"]
    assert article.body_html.count("<p>") == len(expected["body_paragraphs"])
    # No source_url: the disclaimer asks for a hyperlink to the original, so check warns.
    assert [p.reason for p in result.problems if "hyperlink" in p.reason]


def test_boilerplate_is_kept_when_the_profile_says_so(tmp_path: Path) -> None:
    if not SAMPLES:
        pytest.skip("no sample")
    profile_text = (SITE / "config" / "sources" / "globalresearch.toml").read_text()
    (tmp_path / "gr.toml").write_text(
        profile_text.replace("keep_boilerplate = false", "keep_boilerplate = true")
    )

    profile = load_profiles(tmp_path)[0]
    capture = extract(SAMPLES[0].read_text(encoding="utf-8"), profile)
    assert any(p.startswith("All Global Research articles") for p in capture.body_paragraphs)
    assert capture.body_paragraphs[-1].endswith("share widely Global Research articles.")
