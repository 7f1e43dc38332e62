"""The content folder as data: odd entries, hostile values and arbitrary bytes are each one
file's problem, never a hang, a crash or a leak from outside content/ (issue 8, findings 2, 7,
8 and 11; PITFALLS 64 and 69)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher.config.settings import ContentSettings
from publisher.content.frontmatter import FRONT_MATTER_FIELDS
from publisher.content.reading import Limits, ReadResult, read_article
from publisher.content.scan import ContentFile, scan
from publisher.errors import ConfigError
from publisher.models import Problem
from publisher.urls import is_web_url
from tests.cli.test_cli import _run as run_cli
from tests.conftest import BERLIN, Project
from tests.content.test_hostile import article_source

LIMITS = Limits(max_bytes=10_000, max_tags=50)
OUTSIDE_TITLE = "A secret from outside the content folder"
UNEXPECTED = "could not be read"  # the reader's last resort: every input should be foreseen
AS_ROOT = os.geteuid() == 0


def read(path: Path, relative: str = "", limits: Limits = LIMITS) -> ReadResult:
    return read_article(path, relative or path.name, [], BERLIN, limits)


def walk(content: Path, max_bytes: int = LIMITS.max_bytes) -> dict[str, ContentFile | Problem]:
    """What a scan found, by the name the operator sees."""
    return {
        item.relative if isinstance(item, ContentFile) else item.path: item
        for item in scan(content, max_bytes)
    }


def problem_of(result: ReadResult) -> Problem:
    assert result.article is None
    [problem] = [p for p in result.problems if p.severity == "error"]
    return problem


# -- a content folder holding everything a file system can hold --------------------------------


def _fifo(path: Path, outside: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path, outside: Path) -> None:
    # AF_UNIX paths are limited to ~108 bytes: bind by a name relative to the folder.
    cwd = Path.cwd()
    os.chdir(path.parent)
    try:
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(path.name)
    finally:
        os.chdir(cwd)


def _link_to(target: str) -> Callable[[Path, Path], None]:
    def make(path: Path, outside: Path) -> None:
        path.symlink_to(target.format(outside=outside))

    return make


def _text(source: str) -> Callable[[Path, Path], None]:
    def make(path: Path, outside: Path) -> None:
        path.write_text(source, encoding="utf-8")

    return make


MANY_TAGS = article_source(title='"Tagged to death"', tags=", ".join(f"t{n}" for n in range(1000)))
HUGE = article_source("A body. " * 2_000, title='"Too long to read"')
# name → (how to make it, the start of its problem line, its severity)
ENTRIES: dict[str, tuple[Callable[[Path, Path], None], str, str]] = {
    "pipe.md": (_fifo, "pipe.md: a FIFO, not a regular file", "error"),
    "socket.md": (_socket, "socket.md: a socket, not a regular file", "error"),
    "zero.md": (_link_to("/dev/zero"), "zero.md: a symlink to '/dev/zero', outside the", "error"),
    "secret.md": (
        _link_to("{outside}/secret.md"),
        "secret.md: a symlink to '{outside}/secret.md', outside the content folder",
        "error",
    ),
    "etc": (_link_to("/etc"), "etc: a symlink to '/etc', outside the content folder", "error"),
    "loop": (_link_to("."), "loop: the same folder as content/; not walked again", "warning"),
    "huge.md": (_text(HUGE), "huge.md: over the size limit of 10,000 bytes (16,", "error"),
    "tags.md": (_text(MANY_TAGS), "tags.md: tags: 1000 tags, more than the limit of 50", "error"),
    "bad-date.md": (
        _text(article_source(title='"Bad date"', date="2024-13-45")),
        "bad-date.md: date: '2024-13-45' is not a date (write it as 2024-03-01",
        "error",
    ),
    "far-date.md": (
        _text(article_source(title='"Far future"', date="9999-12-31T23:00:00+00:00")),
        "far-date.md: date: '9999-12-31T23:00:00+00:00' is out of range (a year from 1000",
        "error",
    ),
    "script-link.md": (
        _text(article_source(title='"Script link"', source_url="javascript:alert(1)")),
        "script-link.md: source_url: 'javascript:alert(1)' is not an http(s) URL",
        "error",
    ),
}


def fill(content: Path, outside: Path) -> dict[str, str]:
    """Every entry of :data:`ENTRIES` in ``content``; what each one's problem line starts with."""
    outside.mkdir(exist_ok=True)
    (outside / "secret.md").write_text(article_source(title=f'"{OUTSIDE_TITLE}"'))
    for name, (make, _, _) in ENTRIES.items():
        make(content / name, outside)
    return {name: line.format(outside=outside) for name, (_, line, _) in ENTRIES.items()}


@pytest.fixture
def hostile(db_project: Project) -> tuple[Project, dict[str, str]]:
    """The project's good articles among every entry of :data:`ENTRIES`, files over 10 kB
    refused."""
    project = db_project  # on SQLite and on PostgreSQL
    project.environ["PUBLISHER_CONTENT__MAX_FILE_BYTES"] = str(LIMITS.max_bytes)
    project.write("good.md", article_source())
    return project, fill(project.root / "content", project.root.parent.resolve() / "outside")


def test_publish_publishes_every_good_file_and_names_each_bad_one_in_one_line(
    hostile: tuple[Project, dict[str, str]],
) -> None:
    project, lines = hostile
    result = run_cli(project, "publish")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert "articles: 5 new, 0 updated, 0 unchanged, 0 removed" in result.stdout
    printed = result.stdout.splitlines()
    for name, start in lines.items():
        label = "warning" if ENTRIES[name][2] == "warning" else "skipped"
        assert sum(line.startswith(f"{label}: {start}") for line in printed) == 1, name
    pages = [page.stem for page in (project.public / "articles").iterdir()]
    assert len(pages) == 5 and "a-good-article" in pages  # the project's four, and good.md
    everything = b"".join(p.read_bytes() for p in project.public.rglob("*") if p.is_file())
    assert OUTSIDE_TITLE.encode() not in everything
    assert b"root:x:0:0" not in everything  # nothing of /etc


def test_check_names_each_bad_entry_the_same_way_without_a_traceback(
    hostile: tuple[Project, dict[str, str]],
) -> None:
    project, lines = hostile
    result = run_cli(project, "check")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    printed = result.stdout.splitlines()
    for name, start in lines.items():
        severity = ENTRIES[name][2]
        assert sum(line.startswith(f"{severity}: {start}") for line in printed) == 1, name
    errors = sum(severity == "error" for _, _, severity in ENTRIES.values())
    assert printed[-1] == f"{errors} errors, 1 warnings"


@pytest.mark.parametrize("command", ["publish", "check"])
def test_a_missing_content_folder_is_one_line_and_withdraws_nothing(
    project: Project, command: str
) -> None:
    assert run_cli(project, "publish").returncode == 0
    pages = sorted((project.public / "articles").iterdir())
    (project.root / "content").rename(project.root / "elsewhere")
    result = run_cli(project, command)
    assert result.returncode == 2 and result.stdout == ""
    [error, hint] = result.stderr.splitlines()
    assert error.startswith("error: content.dir: expected a folder, but ")
    assert error.endswith("content does not exist, got 'content' (default)")
    assert hint == "hint: create it or set content.dir"
    assert sorted((project.public / "articles").iterdir()) == pages


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_each_odd_entry_is_a_problem_of_its_own_and_never_read(tmp_path: Path, name: str) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "good.md").write_text(article_source())
    make, start, severity = ENTRIES[name]
    outside = tmp_path.resolve() / "outside"
    make(content / name, outside)
    found = walk(content)
    good = found.pop("good.md")
    assert isinstance(good, ContentFile) and read(Path(good.path)).article is not None
    if isinstance(found.get(name), ContentFile):  # well-formed files, refused by the reader
        item = found.pop(name)
        assert isinstance(item, ContentFile)
        problem = problem_of(read(Path(item.path), item.relative))
    else:
        problem = found.pop(name)  # type: ignore[assignment]
    assert found == {}
    assert f"{problem.severity}: {problem.line()}".startswith(
        f"{severity}: {start.format(outside=outside)}"
    )


def test_a_symlink_inside_the_folder_is_followed_under_its_own_name(tmp_path: Path) -> None:
    (tmp_path / ".drafts").mkdir()
    (tmp_path / ".drafts" / "post.md").write_text(article_source())
    (tmp_path / "post.md").symlink_to(".drafts/post.md")
    (tmp_path / "shelf").symlink_to(".drafts")
    found = walk(tmp_path)
    assert sorted(found) == ["post.md", "shelf/post.md"]
    assert {item.path for item in found.values() if isinstance(item, ContentFile)} == {
        str(tmp_path.resolve() / ".drafts" / "post.md")
    }


def test_folders_linking_to_each_other_are_walked_once_under_their_real_names(
    tmp_path: Path,
) -> None:
    for folder, other in (("one", "two"), ("two", "one")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"{folder}.md").write_text(article_source())
        (tmp_path / folder / f"to-{other}").symlink_to(f"../{other}")
    found = walk(tmp_path)
    assert sorted(found) == ["one/one.md", "one/to-two", "two/to-one", "two/two.md"]
    for link in ("one/to-two", "two/to-one"):
        problem = found[link]
        assert isinstance(problem, Problem) and problem.severity == "warning"
        assert "the same folder as" in problem.reason


def test_symlinks_pointing_at_each_other_are_two_problems_not_an_eloop(tmp_path: Path) -> None:
    (tmp_path / "x.md").symlink_to("y.md")
    (tmp_path / "y.md").symlink_to("x.md")
    found = walk(tmp_path)
    assert sorted(found) == ["x.md", "y.md"]
    assert all(isinstance(p, Problem) and "cannot follow" in p.reason for p in found.values())


@pytest.mark.parametrize("name", ["nowhere", "a-file"])
def test_a_content_folder_that_cannot_be_read_is_a_config_error(tmp_path: Path, name: str) -> None:
    """Not a problem of some file: nothing may be taken for withdrawn because of it."""
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(ConfigError, match=f"content.dir {tmp_path}/{name}: cannot read"):
        list(scan(tmp_path / name, LIMITS.max_bytes))


def test_a_file_name_that_is_not_text_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "new\nline.md").write_text(article_source())
    os.close(os.open(os.fsencode(tmp_path) + b"/caf\xe9.md", os.O_CREAT | os.O_WRONLY))
    found = walk(tmp_path)
    assert sorted(found) == ["caf\ufffd.md", "new\\nline.md"]
    assert all(isinstance(p, Problem) and "not UTF-8 text" in p.reason for p in found.values())


UNREADABLE_CHECK = """
import json, sys
from pathlib import Path
from zoneinfo import ZoneInfo
from publisher.models import Problem
from publisher.content.scan import ContentFile, scan
from publisher.content.reading import read_article
found = {}
for item in scan(Path(sys.argv[1]), 10_000_000):
    if isinstance(item, Problem):
        found[item.path] = [item.reason, item.hint]
    else:
        result = read_article(item.path, item.relative, [], ZoneInfo("UTC"))
        found[item.relative] = [p.reason for p in result.problems]
print(json.dumps(found))
"""


def test_an_unreadable_folder_and_file_are_problems(tmp_path: Path) -> None:
    """Root reads whatever the permissions say, so as root the check runs without the
    capabilities that let it (setpriv drops them from the child's bounding set)."""
    content = tmp_path / "content"
    (content / "locked").mkdir(parents=True)
    (content / "secret.md").write_text(article_source())
    (content / "secret.md").chmod(0)
    (content / "locked").chmod(0)
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if AS_ROOT else []
    command = [*drop, sys.executable, "-c", UNREADABLE_CHECK, str(content)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    finally:
        (content / "locked").chmod(0o755)
    found = json.loads(done.stdout)
    assert found["secret.md"] == ["cannot read: Permission denied"]
    assert found["locked/"] == [
        "cannot read this folder: Permission denied",
        "check its permissions; the files in it are not read",
    ]


# -- what the scan saw may be swapped before it is read -----------------------------------------


def scanned(tmp_path: Path, source: str = "") -> ContentFile:
    (tmp_path / "post.md").write_text(source or article_source())
    [item] = scan(tmp_path, LIMITS.max_bytes)
    assert isinstance(item, ContentFile)
    return item


def test_a_fifo_swapped_in_after_the_scan_does_not_block_the_read(tmp_path: Path) -> None:
    item = scanned(tmp_path)
    os.remove(item.path)
    os.mkfifo(item.path)
    results: list[ReadResult] = []
    reader = threading.Thread(target=lambda: results.append(read(Path(item.path))), daemon=True)
    reader.start()
    reader.join(timeout=30)  # a bound that tells a hang from an answer, not a speed test
    if reader.is_alive():  # the old reader blocks in open(): give it a writer, then fail
        os.close(os.open(item.path, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO blocked")
    assert problem_of(results[0]).reason == "a FIFO, not a regular file"


def test_a_symlink_swapped_in_after_the_scan_is_not_followed(tmp_path: Path) -> None:
    item = scanned(tmp_path)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.md"
    outside.write_text(article_source(title=f'"{OUTSIDE_TITLE}"'))
    os.remove(item.path)
    os.symlink(outside, item.path)
    assert "a symlink now" in problem_of(read(Path(item.path))).reason


def test_a_file_that_grew_past_the_limit_after_the_scan_is_refused(tmp_path: Path) -> None:
    item = scanned(tmp_path)
    Path(item.path).write_text(HUGE)
    assert "over the size limit" in problem_of(read(Path(item.path))).reason
    assert read(Path(item.path), limits=Limits(len(HUGE.encode()), 50)).article is not None


# -- front-matter values ------------------------------------------------------------------------


def front(tmp_path: Path, **fields: str | None) -> ReadResult:
    path = tmp_path / "post.md"
    path.write_text(article_source(**fields), encoding="utf-8")
    return read(path)


@pytest.mark.parametrize("key", ["date", "updated", "original_published"])
@pytest.mark.parametrize("value", ["2024-13-45", "2024-02-30", "2024-01-01 25:00:00", "0001-01-01"])
def test_a_date_that_is_no_date_names_its_field(tmp_path: Path, key: str, value: str) -> None:
    problem = problem_of(front(tmp_path, **{key: value}))
    assert (problem.reason, problem.field) == (f"{key}: {value!r} is not a date", key)
    assert problem.hint.startswith("write it as 2024-03-01")


@pytest.mark.parametrize("key", ["date", "updated", "original_published"])
@pytest.mark.parametrize("value", ["0001-01-02", "0999-12-31", "9000-12-31T23:00:00-05:00"])
def test_a_date_no_output_can_carry_names_its_field(tmp_path: Path, key: str, value: str) -> None:
    problem = problem_of(front(tmp_path, **{key: value}))
    assert (problem.reason, problem.field) == (f"{key}: {value!r} is out of range", key)
    assert problem.hint == "a year from 1000 to 9000"


def test_a_real_yaml_timestamp_is_still_a_date(tmp_path: Path) -> None:
    article = front(tmp_path, date="2024-02-29 09:30:00+01:00", updated="2024-03-01").article
    assert article is not None
    assert article.published.isoformat() == "2024-02-29T08:30:00+00:00"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "ftp://example.org/file",
        "//example.org/no-scheme",
        "/relative/path",
        "http:example.org",
        "https://",
        '"https://exa mple.org/space"',
        '"https://example.org/\\u202eright-to-left"',
        '"https://example.org/\\x00nul"',
        '"https://example.org/\\ttab"',
        '"https:\\\\\\\\evil.example"',
        "https://[::1/unbalanced",
    ],
)
def test_a_source_url_that_is_no_web_address_is_refused(tmp_path: Path, url: str) -> None:
    problem = problem_of(front(tmp_path, source_url=url))
    assert problem.field == "source_url" and "is not an http(s) URL" in problem.reason
    assert problem.hint


@pytest.mark.parametrize(
    "url", ["https://example.org/a?b=c#d", "HTTP://EXAMPLE.ORG/", "https://de.example/Müller"]
)
def test_a_web_source_url_is_kept(tmp_path: Path, url: str) -> None:
    article = front(tmp_path, source_url=url).article
    assert article is not None and article.source_url == url


def test_is_web_url_checks_the_scheme_in_any_case() -> None:
    assert is_web_url("hTTpS://example.org")
    assert not is_web_url("JAVASCRIPT://example.org/%0aalert(1)")
    assert not is_web_url("")


@pytest.mark.parametrize(
    "uid",
    [
        "tag:example.org,2024:my-article",
        "tag:editor@example.org,2024-03-01:a/b",
        "TAG:example.org,2024-03:x",
        "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
        "https://example.org/articles/1",
    ],
)
def test_an_id_field_becomes_the_article_uid(tmp_path: Path, uid: str) -> None:
    result = front(tmp_path, id=uid)
    assert result.article is not None and result.article.uid == uid
    assert result.problems == []


@pytest.mark.parametrize(
    "uid",
    [
        "my-article",
        "12345",
        "tag:example.org:no-date",
        "tag:example.org,24:x",
        "urn:x",
        "urn:isbn",
        "javascript:alert(1)",
        '"tag:example.org,2024:with space"',
        '"urn:uuid:\\u200bzero-width"',
        "[tag:example.org,2024:a]",
        f"tag:example.org,2024:{'x' * 500}",
    ],
)
def test_an_id_that_is_no_uri_is_refused(tmp_path: Path, uid: str) -> None:
    problem = problem_of(front(tmp_path, id=uid))
    assert problem.field == "id" and problem.reason.startswith("id: ")


def test_no_id_leaves_the_uid_to_the_store(tmp_path: Path) -> None:
    article = front(tmp_path).article
    assert article is not None and article.uid == ""
    assert "id" in FRONT_MATTER_FIELDS


def test_the_tag_limit_comes_from_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "post.md"
    path.write_text(article_source(tags="[a, b, c, a]"))
    three = Limits.from_settings(ContentSettings(max_tags=3))
    assert read(path, limits=three).article is not None  # three distinct tags
    problem = problem_of(read(path, limits=Limits.from_settings(ContentSettings(max_tags=2))))
    assert (problem.field, problem.reason) == ("tags", "tags: 3 tags, more than the limit of 2")


def test_a_number_python_cannot_make_is_text(tmp_path: Path) -> None:
    article = front(tmp_path, title="9" * 5000).article  # int("9" * 5000) raises in the loader
    assert article is not None and article.title == "9" * 5000


def test_a_number_too_long_to_print_is_a_problem_of_its_field(tmp_path: Path) -> None:
    problem = problem_of(front(tmp_path, title="0x" + "f" * 5000))  # made, but str() raises
    assert problem.field == "title" and "too long" in problem.reason


# -- properties: whatever the bytes, one answer --------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=40),
    st.dates(),
    st.datetimes(),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
# Scalars that YAML's resolver takes for timestamps, ints or floats, valid or not.
timestamp_like = st.from_regex(
    r"\A[0-9]{1,4}-[0-9]{1,2}-[0-9]{1,2}([Tt ][0-9]{1,2}:[0-9]{2}:[0-9]{2}(\.[0-9]{0,9})?"
    r"( ?(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?)?\Z"
)
raw_scalars = (
    timestamp_like
    | st.from_regex(r"\A[-+]?(0x|0o|0b)?[0-9_.eE:]{1,30}\Z")
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
)
keys = st.sampled_from(sorted(FRONT_MATTER_FIELDS)) | st.text(max_size=10)
REQUIRED = {"title": "T", "date": date(2024, 1, 1), "attribution": "A"}
SOME = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("property")


def read_bytes(folder: Path, raw: bytes, suffix: str) -> ReadResult:
    path = folder / f"post{suffix}"
    path.write_bytes(raw)
    result = read(path)
    if result.article is None:
        assert any(p.severity == "error" for p in result.problems)
    assert all(p.path == path.name for p in result.problems)
    assert not [p for p in result.problems if p.reason.startswith(UNEXPECTED)], result.problems
    return result


@SOME
@given(st.dictionaries(keys, values, max_size=6), st.booleans())
def test_any_front_matter_values_give_an_article_or_named_problems(
    scratch: Path, meta: dict[str, Any], with_required: bool
) -> None:
    meta = {**REQUIRED, **meta} if with_required else meta
    dumped = yaml.safe_dump(meta, allow_unicode=True)
    read_bytes(scratch, f"---\n{dumped}---\nBody\n".encode(), ".md")


@SOME
@given(st.dictionaries(keys, raw_scalars, max_size=6))
def test_any_scalar_source_in_front_matter_gives_an_article_or_named_problems(
    scratch: Path, raw: dict[str, str]
) -> None:
    lines = "".join(f"{json.dumps(key)}: {value}\n" for key, value in raw.items())
    read_bytes(scratch, f"---\ntitle: T\nattribution: A\n{lines}---\nBody\n".encode(), ".md")


@SOME
@given(st.binary(max_size=2000), st.sampled_from([".md", ".txt", ".html"]), st.booleans())
def test_any_bytes_give_an_article_or_named_problems(
    scratch: Path, raw: bytes, suffix: str, fenced: bool
) -> None:
    read_bytes(scratch, b"---\n" + raw if fenced else raw, suffix)


def test_datetimes_round_trip_through_the_loader(tmp_path: Path) -> None:
    when = datetime(2024, 5, 18, 9, 30, tzinfo=BERLIN)
    result = front(tmp_path, date=when.isoformat())
    assert result.article is not None and result.article.published == when


def test_articles_in_a_folder_that_cannot_be_listed_are_kept(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unreadable for one run (permissions, a flaky mount): not a reason to withdraw them.
    os.scandir is made to fail because the tests run as root, who lists any folder."""
    project.write("desk/post.md", article_source())
    assert "desk/post.md" in project.publish().new
    desk = str((project.root / "content" / "desk").resolve())
    real_scandir = os.scandir

    def scandir(path: str) -> Any:
        if path == desk:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = project.publish()
    assert report.removed == []
    problem = Problem(
        "desk/",
        "cannot read this folder: Permission denied",
        "check its permissions; the files in it are not read",
    )
    assert problem in report.skipped
    assert (project.public / "articles" / "a-good-article.html").exists()
