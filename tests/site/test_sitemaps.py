"""What crawlers read: the sitemap index, one sitemap per archive year and one of the lists'
pages, robots.txt, and the icons; and that a new article rewrites only its year's sitemap."""

from __future__ import annotations

import struct
import zlib
from datetime import datetime, timedelta
from pathlib import Path

from lxml import etree
from starlette.testclient import TestClient

from publisher.service.web import create_app
from tests.conftest import NOW, Project

BASE = "http://localhost:8000/"  # the tests' site.base_url
NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
SAMPLE_2024 = {  # the slugs of the tests' content, all of 2024
    "night-ferry",
    "the-salt-marsh-that-came-back",
    "a-lending-library-for-river-gear",
    "volunteers-count-4-000-creatures-in-a-single-tide",
}


def _story(project: Project, slug: str, when: str) -> Path:
    return project.write(
        f"stories/{slug}.md",
        f"---\ntitle: {slug.replace('-', ' ').title()}\ndate: {when}\nslug: {slug}\n"
        f"tags: [Shore]\nattribution: © Shore Desk\n---\nA story.\n",
    )


def _xml(path: Path) -> etree._Element:
    """A published XML file, parsed strictly (lxml, as the other output tests do)."""
    return etree.fromstring(path.read_bytes())


def _locs(project: Project, path: str, root: str = "urlset") -> list[str]:
    tree = _xml(project.public / path)
    assert tree.tag == f"{NS}{root}"
    item = "url" if root == "urlset" else "sitemap"
    return [entry.findtext(f"{NS}loc", "") for entry in tree.iter(f"{NS}{item}")]


def _slugs(project: Project, year: int) -> set[str]:
    prefix = f"{BASE}articles/"
    return {
        loc.removeprefix(prefix).removesuffix(".html")
        for loc in _locs(project, f"sitemaps/{year}.xml")
    }


def _sitemaps(written: list[str]) -> set[str]:
    return {path for path in written if path == "sitemap.xml" or path.startswith("sitemaps/")}


def test_the_index_names_the_site_sitemap_and_every_year(project: Project) -> None:
    _story(project, "old-pier", "2023-03-14")
    project.publish()
    assert _locs(project, "sitemap.xml", "sitemapindex") == [
        f"{BASE}sitemaps/site.xml",
        f"{BASE}sitemaps/2024.xml",
        f"{BASE}sitemaps/2023.xml",
    ]
    site = _locs(project, "sitemaps/site.xml")
    assert site[:2] == [f"{BASE}index.html", f"{BASE}archive.html"]
    assert {f"{BASE}tags/shore.html", f"{BASE}tags/rivers.html"} <= set(site)
    assert site[-2:] == [f"{BASE}archive/2024.html", f"{BASE}archive/2023.html"]


def test_each_year_lists_exactly_its_articles_dated_by_publication(project: Project) -> None:
    _story(project, "old-pier", "2023-03-14")
    _story(project, "new-year-swim", "2023-12-31T23:30:00")  # still 2023 in Berlin
    project.publish()
    assert _slugs(project, 2023) == {"old-pier", "new-year-swim"}
    assert _slugs(project, 2024) == SAMPLE_2024
    tree = _xml(project.public / "sitemaps/2023.xml")
    dates = [datetime.fromisoformat(e.text or "") for e in tree.iter(f"{NS}lastmod")]
    assert [d.isoformat() for d in dates] == [
        "2023-12-31T23:30:00+01:00",
        "2023-03-14T00:00:00+01:00",
    ]


def test_a_new_article_rewrites_only_its_years_sitemap(project: Project) -> None:
    _story(project, "old-pier", "2023-03-14")
    _story(project, "dune-walk", "2023-08-01")
    project.publish()
    _story(project, "low-tide", "2023-05-20")  # neither the newest of its year nor of the site
    report = project.publish(NOW + timedelta(hours=1))
    assert _sitemaps(report.written) == {"sitemaps/2023.xml"}
    assert "low-tide" in _slugs(project, 2023)
    again = project.publish(NOW + timedelta(hours=2))
    assert again.written == [] and again.deleted == []


def test_a_year_without_articles_loses_its_sitemap(project: Project) -> None:
    first = _story(project, "old-pier", "2023-03-14")
    second = _story(project, "dune-walk", "2023-08-01")
    project.publish()
    first.unlink()
    second.unlink()
    report = project.publish(NOW + timedelta(hours=1))
    assert {"sitemaps/2023.xml", "archive/2023.html"} <= set(report.deleted)
    assert not (project.public / "sitemaps/2023.xml").exists()
    assert (project.public / "sitemaps/2024.xml").exists()
    assert _locs(project, "sitemap.xml", "sitemapindex") == [
        f"{BASE}sitemaps/site.xml",
        f"{BASE}sitemaps/2024.xml",
    ]
    assert f"{BASE}archive/2023.html" not in _locs(project, "sitemaps/site.xml")


def test_sitemaps_escape_what_xml_must(project: Project) -> None:
    project.environ["PUBLISHER_SITE__BASE_URL"] = "https://example.org/a&b/"
    project.publish()
    text = (project.public / "sitemap.xml").read_text()
    assert "https://example.org/a&amp;b/sitemaps/site.xml" in text
    assert (
        _locs(project, "sitemap.xml", "sitemapindex")[0]
        == "https://example.org/a&b/sitemaps/site.xml"
    )
    robots = (project.public / "robots.txt").read_text()
    assert "Disallow: /a&b/admin/\n" in robots


def test_robots_txt_keeps_crawlers_out_of_the_console_and_the_api(project: Project) -> None:
    project.publish()
    assert (project.public / "robots.txt").read_text() == (
        f"User-agent: *\nDisallow: /admin/\nDisallow: /api/\nSitemap: {BASE}sitemap.xml\n"
    )


def _png_of_ico(ico: bytes) -> bytes:
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind, count) == (0, 1, 1)
    width, height, _colors, _zero, _planes, _bits, size, offset = struct.unpack(
        "<BBBBHHII", ico[6:22]
    )
    assert (width, height, offset, size) == (32, 32, 22, len(ico) - 22)
    return ico[offset:]


def _pixels(png: bytes) -> bytes:
    """The raw scanlines of a PNG of one IDAT chunk, each chunk's CRC checked."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    chunks, at = {}, 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        assert struct.unpack(">I", png[at + 8 + length : at + 12 + length])[0] == zlib.crc32(
            kind + data
        )
        chunks[kind] = data
        at += 12 + length
    assert list(chunks) == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[b"IHDR"]) == (32, 32, 8, 6, 0, 0, 0)
    return zlib.decompress(chunks[b"IDAT"])


def test_favicons_are_a_letter_on_the_theme_colour_and_an_ico_of_one_png(
    project: Project,
) -> None:
    project.publish()
    svg = _xml(project.public / "favicon.svg")
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    rect, text = svg.find("{*}rect"), svg.find("{*}text")
    assert rect is not None and rect.get("fill") == "#1a4d7a"
    assert text is not None and text.text == "H"  # Harbor Notes
    pixels = _pixels(_png_of_ico((project.public / "favicon.ico").read_bytes()))
    assert pixels == (b"\x00" + bytes((0x1A, 0x4D, 0x7A, 0xFF)) * 32) * 32
    index = (project.public / "index.html").read_text()
    assert '<link rel="icon" href="favicon.svg" type="image/svg+xml">' in index
    article = (project.public / "articles/night-ferry.html").read_text()
    assert '<link rel="icon" href="../favicon.svg" type="image/svg+xml">' in article


def test_the_theme_colour_and_the_title_make_the_icons(project: Project) -> None:
    project.environ["PUBLISHER_SITE__THEME_COLOR"] = "#c30"
    project.environ["PUBLISHER_SITE__TITLE"] = "<b> & co"
    project.publish()
    svg = _xml(project.public / "favicon.svg")
    rect, text = svg.find("{*}rect"), svg.find("{*}text")
    assert rect is not None and rect.get("fill") == "#c30"
    assert text is not None and text.text == "<"  # escaped in the file, or it would not parse
    pixels = _pixels(_png_of_ico((project.public / "favicon.ico").read_bytes()))
    assert pixels[1:5] == bytes((0xCC, 0x33, 0x00, 0xFF))


def test_the_web_process_serves_them_with_their_media_types(project: Project) -> None:
    project.publish()
    expected = {
        "/sitemap.xml": "application/xml; charset=utf-8",
        "/sitemaps/2024.xml": "application/xml; charset=utf-8",
        "/robots.txt": "text/plain; charset=utf-8",
        "/favicon.svg": "image/svg+xml",
        "/favicon.ico": "image/x-icon",
    }
    with TestClient(create_app(project.settings())) as client:
        for path, media_type in expected.items():
            response = client.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"] == media_type, path
            assert response.content == (project.public / path.lstrip("/")).read_bytes()
