"""Tag and archive-year lists paged from their oldest article: what each page holds, how pages
link, and that a publish rewrites only the pages a change can reach."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath

import pytest

from tests.conftest import NOW, Project

TAG, YEAR = "tags/gauges", "archive/2025"


def _gauge(project: Project, number: int, day: int | None = None, title: str = "") -> Path:
    """Gauge reading ``number``, published on day ``day`` (default: ``number``) of 2025."""
    day = number if day is None else day
    when = (NOW.replace(year=2025, month=1, day=1, hour=9) + timedelta(days=day - 1)).date()
    return project.write(
        f"gauges/reading-{number:02d}.md",
        f"---\ntitle: {title or f'Gauge reading {number}'}\ndate: {when.isoformat()}\n"
        f"tags: [Gauges]\nattribution: © Tide Office\n---\nReading {number}.\n",
    )


@pytest.fixture
def paged(project: Project) -> Project:
    """The tests' project with pages of three articles."""
    project.environ["PUBLISHER_OUTPUT__PAGE_SIZE"] = "3"
    return project


def _listed(project: Project, path: str) -> list[int]:
    """The gauge readings a page lists, in the order it lists them."""
    html = (project.public / path).read_text()
    return [int(n) for n in re.findall(r">Gauge reading (\d+)<", html)]


def _rel(project: Project, path: str) -> dict[str, str]:
    """``rel → href`` of the page's ``<link rel=prev|next>``."""
    html = (project.public / path).read_text()
    head = html.split("</head>")[0]
    return dict(re.findall(r'<link rel="(prev|next)" href="([^"]+)">', head))


def _pages(project: Project, stem: str) -> list[str]:
    folder = project.public / stem / "page"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _page(stem: str, number: int) -> str:
    return f"{stem}/page/{number}.html"


def _fresh_lists(project: Project, tmp_path: Path) -> dict[str, str]:
    """The list pages (tags/, archive/) a first publish of the same content makes."""
    environ = {k: v for k, v in project.environ.items() if k != "DATABASE_URL"}
    twin = Project(tmp_path / "twin", environ)  # its own SQLite store
    shutil.rmtree(twin.root, ignore_errors=True)
    shutil.copytree(project.root / "config", twin.root / "config")
    shutil.copytree(project.root / "content", twin.root / "content")
    twin.publish()
    return _lists(twin)


def _lists(project: Project) -> dict[str, str]:
    return {
        path: digest
        for path, (digest, _mtime) in project.tree().items()
        if path.startswith(("tags/", "archive/")) and path.endswith(".html")
    }


def test_pages_hold_fixed_slices_from_the_oldest_and_list_newest_first(paged: Project) -> None:
    for number in range(1, 9):
        _gauge(paged, number)
    report = paged.publish()
    assert not report.refused and not report.skipped
    assert _listed(paged, f"{TAG}.html") == [8, 7, 6]  # the newest, on the tag's own page
    assert _listed(paged, _page(TAG, 1)) == [3, 2, 1]
    assert _listed(paged, _page(TAG, 2)) == [6, 5, 4]
    assert _listed(paged, _page(TAG, 3)) == [8, 7]
    assert _pages(paged, TAG) == ["1.html", "2.html", "3.html"]
    # The year 2025 holds only the readings: its pages are the same slices.
    assert [_listed(paged, _page(YEAR, n)) for n in (1, 2, 3)] == [[3, 2, 1], [6, 5, 4], [8, 7]]
    assert _listed(paged, f"{YEAR}.html") == [8, 7, 6]
    # A list that fits its own page has no numbered pages.
    assert not (paged.public / "tags" / "rivers" / "page").exists()
    page_one = (paged.public / _page(TAG, 1)).read_text()
    assert "<title>Gauges · page 1 · Harbor Notes</title>" in page_one
    assert 'href="../../../tags/gauges/atom.xml"' in page_one  # the tag's feeds, relative


def test_pages_link_newer_and_older_in_head_and_body(paged: Project) -> None:
    for number in range(1, 9):
        _gauge(paged, number)
    paged.publish()
    up = "../../../"
    assert _rel(paged, f"{TAG}.html") == {"next": "../tags/gauges/page/2.html"}
    assert _rel(paged, _page(TAG, 3)) == {
        "prev": f"{up}tags/gauges.html",
        "next": f"{up}{TAG}/page/2.html",
    }
    assert _rel(paged, _page(TAG, 2)) == {
        "prev": f"{up}{TAG}/page/3.html",
        "next": f"{up}{TAG}/page/1.html",
    }
    assert _rel(paged, _page(TAG, 1)) == {"prev": f"{up}{TAG}/page/2.html"}
    assert _rel(paged, f"{YEAR}.html") == {"next": "../archive/2025/page/2.html"}
    assert _rel(paged, "tags/rivers.html") == {}  # one page: nothing to link
    middle = (paged.public / _page(TAG, 2)).read_text()
    assert f'<a href="{up}{TAG}/page/3.html" rel="prev">← Newer</a>' in middle
    assert f'<a href="{up}{TAG}/page/1.html" rel="next">Older →</a>' in middle
    assert "Older →" in (paged.public / f"{TAG}.html").read_text()
    assert "Older →" not in (paged.public / _page(TAG, 1)).read_text()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag in ("a", "link") and href and "://" not in href and not href.startswith("#"):
            self.hrefs.append(href)


def test_every_relative_link_of_every_page_resolves_to_a_published_file(paged: Project) -> None:
    for number in range(1, 12):
        _gauge(paged, number)
    paged.publish()
    files = set(paged.tree())
    checked = 0
    for path in sorted(f for f in files if f.endswith(".html")):
        links = _Links()
        links.feed((paged.public / path).read_text())
        for href in links.hrefs:
            target = PurePosixPath(path).parent / href.split("#")[0]
            parts: list[str] = []
            for part in target.parts:
                if part == "..":
                    assert parts, f"{path}: {href} leaves public/"
                    parts.pop()
                elif part != ".":
                    parts.append(part)
            assert "/".join(parts) in files, f"{path} links to {href}, which is not published"
            checked += 1
    assert checked > 100
    assert {_page(TAG, n) for n in (1, 2, 3, 4)} <= files


def test_a_new_article_rewrites_only_the_lists_own_page_and_their_last(
    db_project: Project, tmp_path: Path
) -> None:
    db_project.environ["PUBLISHER_OUTPUT__PAGE_SIZE"] = "3"
    for number in range(1, 9):
        _gauge(db_project, number)
    db_project.publish()
    before = db_project.tree()
    _gauge(db_project, 9)
    report = db_project.publish(NOW + timedelta(hours=1))
    assert report.new == ["gauges/reading-09.md"]
    listed = {p for p in report.written if p.startswith(("tags/", "archive/")) and ".htm" in p}
    assert listed == {f"{TAG}.html", _page(TAG, 3), f"{YEAR}.html", _page(YEAR, 3)}
    after = db_project.tree()
    assert after[_page(TAG, 1)] == before[_page(TAG, 1)]  # not even touched
    assert after[_page(TAG, 2)] == before[_page(TAG, 2)]
    assert _listed(db_project, _page(TAG, 3)) == [9, 8, 7]
    # Page 3 is full: the next article starts page 4, and page 3's "newer" link now goes there.
    _gauge(db_project, 10)
    report = db_project.publish(NOW + timedelta(hours=2))
    listed = {p for p in report.written if p.startswith(("tags/", "archive/")) and ".htm" in p}
    assert listed == {
        f"{TAG}.html",
        _page(TAG, 3),
        _page(TAG, 4),
        f"{YEAR}.html",
        _page(YEAR, 3),
        _page(YEAR, 4),
    }
    assert _listed(db_project, _page(TAG, 4)) == [10]
    assert _lists(db_project) == _fresh_lists(db_project, tmp_path)


def test_a_backdated_article_rewrites_the_pages_from_its_position_on(
    db_project: Project, tmp_path: Path
) -> None:
    db_project.environ["PUBLISHER_OUTPUT__PAGE_SIZE"] = "3"
    for number in range(1, 10):
        _gauge(db_project, number * 2)  # days 2, 4, … 18
    db_project.publish()
    before = db_project.tree()
    _gauge(db_project, 20, day=9)  # between the 4th (day 8) and the 5th oldest (day 10)
    report = db_project.publish(NOW + timedelta(hours=1))
    listed = {p for p in report.written if "/page/" in p and p.startswith(TAG)}
    assert listed == {_page(TAG, 2), _page(TAG, 3), _page(TAG, 4)}
    assert db_project.tree()[_page(TAG, 1)] == before[_page(TAG, 1)]
    assert _listed(db_project, _page(TAG, 2)) == [10, 20, 8]
    assert _lists(db_project) == _fresh_lists(db_project, tmp_path)


def test_a_date_moved_later_rewrites_the_pages_from_where_it_was(
    paged: Project, tmp_path: Path
) -> None:
    for number in range(1, 10):
        _gauge(paged, number)
    paged.publish()
    before = paged.tree()
    _gauge(paged, 4, day=30)  # the 4th oldest becomes the newest
    report = paged.publish(NOW + timedelta(hours=1))
    assert report.updated == ["gauges/reading-04.md"]
    assert paged.tree()[_page(TAG, 1)] == before[_page(TAG, 1)]
    assert {_page(TAG, 2), _page(TAG, 3)} <= set(report.written)
    assert _listed(paged, _page(TAG, 2)) == [7, 6, 5]
    assert _listed(paged, _page(TAG, 3)) == [4, 9, 8]
    assert _lists(paged) == _fresh_lists(paged, tmp_path)


def test_a_retitled_article_rewrites_its_page_and_those_after(paged: Project) -> None:
    for number in range(1, 10):
        _gauge(paged, number)
    paged.publish()
    _gauge(paged, 5, title="Gauge reading 55")
    report = paged.publish(NOW + timedelta(hours=1))
    listed = {p for p in report.written if "/page/" in p and p.startswith(TAG)}
    assert listed == {_page(TAG, 2)}  # pages 2 and 3 were rendered; only page 2 differs
    assert _listed(paged, _page(TAG, 2)) == [6, 55, 4]


def test_deleting_articles_shrinks_the_pages_and_removes_the_stale_ones(
    db_project: Project, tmp_path: Path
) -> None:
    db_project.environ["PUBLISHER_OUTPUT__PAGE_SIZE"] = "3"
    paths = [_gauge(db_project, number) for number in range(1, 9)]
    db_project.publish()
    for path in paths[1:3]:  # two of the oldest: every later page shifts
        path.unlink()
    report = db_project.publish(NOW + timedelta(hours=1))
    assert _page(TAG, 3) in report.deleted and _page(YEAR, 3) in report.deleted
    assert _pages(db_project, TAG) == ["1.html", "2.html"]
    assert _listed(db_project, _page(TAG, 1)) == [5, 4, 1]
    assert _lists(db_project) == _fresh_lists(db_project, tmp_path)
    for path in paths[3:6]:  # down to three: the tag's own page holds them all
        path.unlink()
    report = db_project.publish(NOW + timedelta(hours=2))
    assert {_page(TAG, 1), _page(TAG, 2)} <= set(report.deleted)
    assert _pages(db_project, TAG) == [] and _pages(db_project, YEAR) == []
    assert _listed(db_project, f"{TAG}.html") == [8, 7, 1]
    for path in (paths[0], *paths[6:]):
        path.unlink()
    db_project.publish(NOW + timedelta(hours=3))
    assert not any(p.startswith((TAG, YEAR)) for p in db_project.tree())


def test_a_new_page_size_lays_every_list_out_again(paged: Project, tmp_path: Path) -> None:
    for number in range(1, 9):
        _gauge(paged, number)
    paged.publish()
    paged.environ["PUBLISHER_OUTPUT__PAGE_SIZE"] = "5"
    report = paged.publish(NOW + timedelta(hours=1))
    assert _page(TAG, 3) in report.deleted
    assert _pages(paged, TAG) == ["1.html", "2.html"]
    assert _listed(paged, _page(TAG, 2)) == [8, 7, 6]
    assert _lists(paged) == _fresh_lists(paged, tmp_path)


def test_a_second_publish_of_paged_lists_changes_no_byte(paged: Project) -> None:
    for number in range(1, 12):
        _gauge(paged, number)
    paged.publish()
    before = paged.tree()
    report = paged.publish(NOW + timedelta(hours=1))
    assert not report.changed
    assert paged.tree() == before
