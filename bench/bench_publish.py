"""Benchmark of `publisher publish`: wall time and peak memory at 1,000 and 10,000 articles.

What it measures, for each corpus size N, each as one `publisher --root ROOT publish` process
(wall time includes interpreter start-up and imports, because that is what an operator or a
cron job waits for):

- ``full``: the first publish of N articles into an empty root (read, store, render, write all);
- ``unchanged``: a second publish with nothing changed (scan and compare only);
- ``incremental``: a publish after adding one new article to the N-article root.

Memory is reported twice: peak RSS is ``ru_maxrss`` from :func:`os.wait4` (the largest single
process: the publisher or one of the workers it forks for large batches), and tree PSS is the
peak of the summed proportional set size of the publisher and its workers, sampled every 20 ms.
The memory target applies to the larger of the two.

Why: publishing is meant to be proportional to what changed, and one new article in a large
archive must stay cheap; these figures show whether it is (targets below).

The corpus is synthetic and deterministic (``random.Random`` seeded per article): half Harbor
Wire ``.txt`` captures, half Markdown files, each with about 8 KB of body text, 20 tags and dates
spread over ten years. Standard library only, besides the ``publisher`` command it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = PROJECT / "bench" / "results" / "publish.json"
DEFAULT_WORKDIR = PROJECT / "bench" / "results" / "work"
BODY_BYTES = 8 * 1024
FIRST_DATE = date(2015, 1, 1)
DATE_SPAN_DAYS = 3650
LATEST_DATE = date(2025, 6, 1)  # the one new article of the incremental phase is the newest

REGIONS = (
    "Norway", "Portugal", "Atlantic Coast", "Baltic Sea", "North Sea",
    "Scotland", "Brittany", "Galicia", "Iceland", "Wadden Sea",
)  # fmt: skip
THEMES = (
    "Transport", "Community", "Wetlands", "Restoration", "Fisheries",
    "Energy", "Climate", "Wildlife", "Tourism", "Heritage",
)  # fmt: skip
FIRST_NAMES = ("Aksel", "Ines", "Mara", "Jonas", "Sigrid", "Rui", "Elin", "Tomas", "Nora", "Owen")
LAST_NAMES = ("Haugen", "Duarte", "Lindqvist", "Berg", "Lund", "Alves", "Moreau", "Reid", "Vik")
OUTLETS = ("Fjord Post", "Estuary Review", "Coastline Quarterly", "Island Times", "Delta Daily")
ADJECTIVES = (
    "quiet", "old", "tidal", "northern", "salt", "stormy", "hidden", "restored", "small",
    "busy", "frozen", "green", "last", "new", "shallow", "windy", "patient", "bright",
)  # fmt: skip
NOUNS = (
    "harbour", "ferry", "marsh", "lighthouse", "island", "pier", "estuary", "reef", "village",
    "boatyard", "dune", "channel", "fishery", "seawall", "market", "river", "bay", "school",
)  # fmt: skip
VERBS = (
    "returns", "waits", "changes", "survives", "grows", "listens", "opens", "recovers",
    "floods", "welcomes", "remembers", "counts", "rebuilds", "shelters", "feeds", "divides",
)  # fmt: skip
WORDS = (
    "the", "a", "of", "and", "to", "in", "with", "for", "on", "after", "before", "every",
    "water", "tide", "boat", "crew", "volunteers", "council", "residents", "winter", "summer",
    "morning", "night", "birds", "nets", "engine", "battery", "storm", "coast", "road", "town",
    "plan", "money", "year", "decade", "season", "weather", "shore", "rocks", "mud", "grass",
    "counted", "built", "moved", "measured", "repaired", "argued", "agreed", "planted",
    "slowly", "again", "finally", "together", "nearly", "quietly", "twice", "still", "now",
)  # fmt: skip

TARGETS = {
    "full_wall_s": 20.0,
    "incremental_wall_s": 1.0,
    "peak_rss_mb": 300.0,
    "at_n": 10_000,
}
PHASE_WALL_TARGETS = {"full": TARGETS["full_wall_s"], "incremental": TARGETS["incremental_wall_s"]}
REPORT_LINE = re.compile(
    r"articles: (?P<new>\d+) new, (?P<updated>\d+) updated, (?P<unchanged>\d+) unchanged"
)
OUTPUTS_LINE = re.compile(r"outputs: (?P<written>\d+) written")


@dataclass(frozen=True)
class Process:
    """One finished publish process."""

    wall_s: float
    cpu_s: float
    max_rss_kib: int
    tree_pss_kib: int
    exit_code: int
    stdout: str
    stderr: str


@dataclass
class Row:
    """One line of the results table and of the JSON."""

    n: int
    phase: str
    wall_s: float
    cpu_s: float
    articles_per_s: float | None
    peak_rss_mb: float
    tree_pss_mb: float
    exit_code: int
    new: int | None
    updated: int | None
    unchanged: int | None
    outputs_written: int | None
    wall_target_s: float | None
    rss_target_mb: float | None
    meets_targets: bool | None
    note: str = ""


class Corpus:
    """Deterministic synthetic articles; article ``i`` is the same whatever N is."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        rng = random.Random(seed)
        self.sentences = [self._sentence(rng) for _ in range(2000)]

    @staticmethod
    def _sentence(rng: random.Random) -> str:
        words = rng.choices(WORDS, k=rng.randint(8, 18))
        return f"{' '.join(words).capitalize()}."

    def _paragraphs(self, rng: random.Random) -> list[str]:
        paragraphs: list[str] = []
        size = 0
        while size < BODY_BYTES:
            paragraph = " ".join(rng.choices(self.sentences, k=rng.randint(4, 8)))
            paragraphs.append(paragraph)
            size += len(paragraph) + 2
        return paragraphs

    def draw(self, i: int, latest: bool = False) -> tuple[ArticleMeta, list[str]]:
        """The fields and body paragraphs of article ``i`` (the newest date when ``latest``)."""
        rng = random.Random(f"{self.seed}:{i}")
        title = (
            f"The {rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS).title()} "
            f"{rng.choice(VERBS).title()}, Story {i}"
        )
        meta = ArticleMeta.draw(rng, i, title, latest)
        return meta, self._paragraphs(rng)

    def article(self, i: int, latest: bool = False) -> tuple[str, str]:
        """``(file name, file text)`` of article ``i``: even ones ``.txt``, odd ones ``.md``."""
        meta, body = self.draw(i, latest)
        if i % 2 == 0:
            return f"{meta.slug}.txt", capture_text(meta, body)
        return f"{meta.slug}.md", markdown_text(meta, body)


@dataclass(frozen=True)
class ArticleMeta:
    """The fields of one synthetic article besides its body."""

    slug: str
    title: str
    author: str
    published: date
    outlet: str
    region: str
    themes: tuple[str, ...]
    photographer: str

    @classmethod
    def draw(cls, rng: random.Random, i: int, title: str, latest: bool) -> ArticleMeta:
        """Random fields for article ``i`` (the newest date when ``latest``)."""
        offset = timedelta(days=rng.randrange(DATE_SPAN_DAYS))
        return cls(
            slug=f"bench-{i:06d}",
            title=title,
            author=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            published=LATEST_DATE if latest else FIRST_DATE + offset,
            outlet=rng.choice(OUTLETS),
            region=rng.choice(REGIONS),
            themes=tuple(rng.sample(THEMES, rng.randint(1, 2))),
            photographer=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
        )


def capture_text(meta: ArticleMeta, body: list[str]) -> str:
    """A Harbor Wire plain-text capture, laid out as in content/*.txt."""
    published = meta.published
    original = published - timedelta(days=1)
    themes = ", ".join(f"<u>{t}</u>" for t in meta.themes)
    byline = (
        f"By {meta.author} Harbor Wire, {published:%B} {published.day}, {published.year} "
        f"{meta.outlet} {original.day} {original:%B %Y} "
        f"Region: <u>{meta.region}</u> Theme: {themes}"
    )
    parts = [
        meta.title,
        byline,
        "Harbor Wire is reader-supported. Become a member today.",
        "Sign up for the Harbor Wire morning briefing and never miss a story.",
        *body[:-1],
        f"{body[-1]} Share this story with a friend who would enjoy it.",
        f"{meta.author} is a correspondent covering {meta.region} for Harbor Wire.",
        f"Photo by {meta.photographer}",
        "*",
        f"This article first appeared in {meta.outlet}. "
        f"Copyright © {meta.author}, {meta.outlet}, {published.year}",
        f"More by: {meta.author}",
        "Disclaimer: The views in this article are the author's alone. Harbor Wire permits "
        "republication on non-commercial sites provided the author and source are credited "
        "together with a link to the original article.",
    ]
    url = f"https://harborwire.example.net/bench/{meta.slug}"
    return f"---\nsource_url: {url}\nslug: {meta.slug}\n---\n" + "\n\n".join(parts) + "\n"


def _yaml(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def markdown_text(meta: ArticleMeta, body: list[str]) -> str:
    """A Markdown article with the front matter of content/*.md."""
    front = [
        f"title: {_yaml(meta.title)}",
        f"author: {_yaml(meta.author)}",
        f"date: {meta.published.isoformat()}",
        f"slug: {meta.slug}",
        f"source: {_yaml(meta.outlet)}",
        f"source_url: https://{meta.outlet.lower().replace(' ', '')}.example.org/{meta.slug}",
        f"tags: [{', '.join(_yaml(t) for t in (meta.region, *meta.themes))}]",
        "attribution: "
        + _yaml(
            f"Originally published by {meta.outlet}. © {meta.published.year} {meta.author}, "
            "reproduced with permission."
        ),
        "disclaimer:",
        "  - \"The views expressed are the author's own and do not necessarily reflect those"
        ' of Harbor Notes."',
        f"  - {_yaml(f'Republication requires the written consent of {meta.outlet}.')}",
        f"credits: {_yaml(f'Photo by {meta.photographer} for {meta.outlet}')}",
    ]
    blocks = []
    for index, paragraph in enumerate(body):
        if index and index % 4 == 0:
            blocks.append(f"## Part {index // 4 + 1}")
        blocks.append(paragraph.replace(" tide ", " **tide** ", 1))
    return "---\n" + "\n".join(front) + "\n---\n\n" + "\n\n".join(blocks) + "\n"


def write_articles(corpus: Corpus, content: Path, indices: range, latest: bool = False) -> int:
    """Write articles ``indices`` into ``content``; returns the bytes written."""
    content.mkdir(parents=True, exist_ok=True)
    total = 0
    for i in indices:
        name, text = corpus.article(i, latest)
        total += (content / name).write_text(text, encoding="utf-8")
    return total


def make_root(parent: Path, n: int) -> Path:
    """A fresh project root holding a copy of the project's config/ and nothing else."""
    root = parent / f"root-{n}"
    shutil.copytree(PROJECT / "config", root / "config")
    return root


def publish_env() -> dict[str, str]:
    """The caller's environment, settling disabled and the store forced to the root's SQLite."""
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.pop("PUBLISHER_DATABASE__URL", None)
    env["PUBLISHER_CONTENT__SETTLE_SECONDS"] = "0"
    return env


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the publisher forks workers for large batches)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(p for child in children for p in _tree(int(child)))]


def _pss_kib(pid: int) -> int:
    """Proportional set size: shared (forked) pages are split between the processes sharing them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMemory(threading.Thread):
    """Samples the summed PSS of a process and its workers every 20 ms; keeps the peak.

    ``ru_maxrss`` is per process: with worker processes it would understate the memory a
    publish needs, so both figures are reported and the target applies to the larger.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self._done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.02):
            self.peak_kib = max(self.peak_kib, sum(_pss_kib(p) for p in _tree(self.pid)))

    def stop(self) -> None:
        self._done.set()
        self.join()


def run_publish(command: Sequence[str], root: Path, env: dict[str, str]) -> Process:
    """Run one publish; wall time from spawn to reap, peak RSS of that child only."""
    return run_measured([*command, "--root", str(root), "publish"], env)


def run_measured(argv: Sequence[str], env: dict[str, str]) -> Process:
    """Run one command; wall time from spawn to reap, CPU and peak RSS from ``os.wait4``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        sampler = TreeMemory(child.pid)
        sampler.start()
        _pid, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        sampler.stop()
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    cpu = usage.ru_utime + usage.ru_stime  # the publisher and the workers it reaped
    return Process(wall, cpu, usage.ru_maxrss, sampler.peak_kib, child.returncode, stdout, stderr)


def _count(pattern: re.Pattern[str], text: str, key: str) -> int | None:
    match = pattern.search(text)
    return int(match[key]) if match else None


def make_row(n: int, phase: str, process: Process, expected_new: int) -> Row:
    """A results row, with targets and a note when the run did not do what was expected."""
    new = _count(REPORT_LINE, process.stdout, "new")
    updated = _count(REPORT_LINE, process.stdout, "updated")
    handled = (new or 0) + (updated or 0)
    peak_mb = process.max_rss_kib / 1024
    tree_mb = process.tree_pss_kib / 1024
    at_target_size = n == TARGETS["at_n"]
    wall_target = PHASE_WALL_TARGETS.get(phase) if at_target_size else None
    rss_target = TARGETS["peak_rss_mb"] if at_target_size else None
    meets = None
    if at_target_size:
        memory = max(peak_mb, tree_mb)
        meets = memory < TARGETS["peak_rss_mb"] and process.exit_code == 0
        meets = meets and (wall_target is None or process.wall_s < wall_target)
    note = ""
    if process.exit_code != 0:
        note = f"exit {process.exit_code}: {process.stderr.strip()[-300:]}"
    elif new != expected_new:
        note = f"expected {expected_new} new articles, publisher reported {new}"
    return Row(
        n=n,
        phase=phase,
        wall_s=round(process.wall_s, 3),
        cpu_s=round(process.cpu_s, 3),
        articles_per_s=round(handled / process.wall_s, 1) if handled else None,
        peak_rss_mb=round(peak_mb, 1),
        tree_pss_mb=round(tree_mb, 1),
        exit_code=process.exit_code,
        new=new,
        updated=updated,
        unchanged=_count(REPORT_LINE, process.stdout, "unchanged"),
        outputs_written=_count(OUTPUTS_LINE, process.stdout, "written"),
        wall_target_s=wall_target,
        rss_target_mb=rss_target,
        meets_targets=meets,
        note=note,
    )


def log(message: str) -> None:
    """Progress on stderr, so stdout holds only the table."""
    print(message, file=sys.stderr, flush=True)


def bench_size(n: int, corpus: Corpus, command: Sequence[str], parent: Path) -> list[Row]:
    """The three phases for one corpus size, in a fresh root."""
    root = make_root(parent, n)
    env = publish_env()
    started = time.perf_counter()
    size = write_articles(corpus, root / "content", range(n))
    log(f"N={n}: wrote {size / 2**20:.1f} MiB in {time.perf_counter() - started:.1f} s")
    rows = []
    for phase, expected_new in (("full", n), ("unchanged", 0), ("incremental", 1)):
        if phase == "incremental":
            write_articles(corpus, root / "content", range(n, n + 1), latest=True)
        log(f"N={n}: {phase} publish ...")
        row = make_row(n, phase, run_publish(command, root, env), expected_new)
        log(f"N={n}: {phase}: {row.wall_s:.2f} s, {row.peak_rss_mb:.0f} MB {row.note}")
        rows.append(row)
    return rows


def _target_text(row: Row) -> str:
    """Each target that applies to the row, and whether it was met."""
    if row.rss_target_mb is None:
        return ""
    memory = max(row.peak_rss_mb, row.tree_pss_mb)
    checks = [(f"memory < {row.rss_target_mb:g} MB", memory < row.rss_target_mb)]
    if row.wall_target_s is not None:
        checks.insert(0, (f"wall < {row.wall_target_s:g} s", row.wall_s < row.wall_target_s))
    return ", ".join(f"{what}: {'OK' if ok else 'MISSED'}" for what, ok in checks)


def print_table(rows: list[Row]) -> None:
    """The results as a fixed-width table on stdout."""
    header = f"{'N':>7}  {'phase':<11}  {'wall s':>8}  {'cpu s':>7}  {'articles/s':>10}"
    header += f"  {'peak RSS MB':>11}"
    header += f"  {'tree PSS MB':>11}"
    print(f"{header}  target")
    for row in rows:
        rate = f"{row.articles_per_s:.1f}" if row.articles_per_s is not None else "-"
        line = (
            f"{row.n:>7}  {row.phase:<11}  {row.wall_s:>8.3f}  {row.cpu_s:>7.2f}  {rate:>10}  "
            f"{row.peak_rss_mb:>11.1f}  {row.tree_pss_mb:>11.1f}  {_target_text(row)}"
        )
        print(line.rstrip())
        if row.note:
            print(f"{'':>9}note: {row.note}")
    sys.stdout.flush()


def write_json(path: Path, rows: list[Row], seed: int, command: Sequence[str]) -> None:
    """The results with enough context to compare runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "publish",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": [*command, "--root", "ROOT", "publish"],
        "seed": seed,
        "body_bytes": BODY_BYTES,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "targets": TARGETS,
        "results": [asdict(row) for row in rows],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def int_list(text: str) -> list[int]:
    """An argparse type: comma-separated positive integers (``1000,10_000``)."""
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from exc
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive integers")
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int_list, default=[1000, 10000], help="e.g. 1000,10000")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the synthetic corpus")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project roots")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help="where the project roots are made: on the disk a real project would use, since "
        "file creation speed differs a lot between folders (this machine's /tmp: 12x slower)",
    )
    parser.add_argument(
        "--publisher",
        default=shutil.which("publisher", path=str(Path(sys.executable).parent))
        or shutil.which("publisher"),
        help="the publisher command (default: the one next to this Python)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every size; exit 1 when a publish failed (missed targets are reported, not fatal)."""
    args = parse_args(argv)
    if not args.publisher:
        log("error: no `publisher` command found; pass --publisher PATH")
        return 2
    command = [args.publisher]
    corpus = Corpus(args.seed)
    args.workdir.mkdir(parents=True, exist_ok=True)
    parent = Path(tempfile.mkdtemp(prefix="bench-publish-", dir=args.workdir))
    rows: list[Row] = []
    try:
        for n in args.sizes:
            rows += bench_size(n, corpus, command, parent)
    finally:
        if args.keep:
            log(f"roots kept in {parent}")
        else:
            shutil.rmtree(parent, ignore_errors=True)
    print_table(rows)
    write_json(args.out, rows, args.seed, command)
    log(f"results: {args.out}")
    return 1 if any(row.exit_code for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
