"""Benchmark of a full site build, publisher against Hugo, on the same articles in the same run.

For each corpus size N (default 1,000, 10,000 and 100,000) the synthetic corpus of
``bench_publish`` is generated once, and a Hugo site is made from the same articles (the
Markdown files as they are, the Harbor Wire ``.txt`` captures turned into Markdown with the same
prose; a minimal set of layouts written by this script). Then, ``--runs`` times, interleaved:

- ``full``: ``publisher --root ROOT publish`` into a fresh root, then ``hugo`` into a fresh
  destination;
- ``unchanged``: the publisher again on the same root, nothing changed (Hugo has no such phase);
- ``add-one``: one new article (newer than all others) added, then an incremental publish of the
  already-built root (process start included), and ``hugo`` on the site with that one extra file
  into a fresh destination (Hugo rebuilds everything; that is the comparison).

Each figure is the median of the runs (every run is printed beside it); the ratios are
publisher wall / Hugo wall. ``/proc/loadavg`` is printed at the start and end of each size,
because the figures mean little on a busy machine. Wall, CPU and peak RSS (``ru_maxrss``) come
from :func:`os.wait4`, tree PSS from sampling ``/proc`` every 20 ms (``bench_publish``'s
measurement). Hugo is skipped, with a line saying so, when the ``hugo`` command is missing
(Debian package ``hugo``) or with ``--no-hugo``. Standard library only, besides the commands
it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_publish import (
    OUTPUTS_LINE,
    REPORT_LINE,
    ArticleMeta,
    Corpus,
    Process,
    _count,
    _yaml,
    capture_text,
    int_list,
    log,
    make_root,
    publish_env,
    run_measured,
    run_publish,
    write_articles,
)

PROJECT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = PROJECT / "bench" / "results" / "build.json"
DEFAULT_WORKDIR = PROJECT / "bench" / "results" / "work"
PHASES = ("full", "unchanged", "add-one")


@dataclass(frozen=True)
class Goal:
    """One goal of the performance issue, for one size and phase (``None``: every phase)."""

    n: int
    phase: str | None
    figure: str  # "ratio" (publisher wall / Hugo wall), "wall_s" or "memory_mb"
    limit: float
    strict: bool = False  # "<" rather than "≤"

    def text(self) -> str:
        op = "<" if self.strict else "≤"
        unit = {"ratio": "× Hugo", "wall_s": " s", "memory_mb": " MB"}[self.figure]
        what = {"ratio": "wall", "wall_s": "wall", "memory_mb": "memory"}[self.figure]
        return f"{what} {op} {self.limit:g}{unit}"

    def met(self, value: float) -> bool:
        return value < self.limit if self.strict else value <= self.limit


GOALS = (  # a row shows its goals in this order: time first, then memory
    Goal(10_000, "full", "ratio", 1.0),
    Goal(10_000, "add-one", "wall_s", 0.5),
    Goal(10_000, None, "memory_mb", 300.0),
    Goal(100_000, "full", "ratio", 1.0),
    Goal(100_000, "add-one", "wall_s", 0.5),
    Goal(100_000, None, "memory_mb", 500.0, strict=True),
)

# -- the Hugo site ------------------------------------------------------------------------------

HUGO_CONFIG = """\
baseURL = "http://localhost:8000/"
title = "Harbor Notes"
languageCode = "en"
taxonomies = { tag = "tags" }

[outputs]
home = ["HTML", "RSS"]
section = ["HTML", "RSS"]
taxonomy = ["HTML", "RSS"]
term = ["HTML", "RSS"]

# The captures' bylines carry <u>…</u>, as the publisher reads them; keep them rather than
# replace them with "raw HTML omitted" comments.
[markup.goldmark.renderer]
unsafe = true
"""

# Like the publisher's default theme: every article page with its provenance, the home page
# with the 50 newest and the tags, one page per tag listing all its articles, and feeds of the
# 50 newest with full content (the publisher's [feeds] entries = 50). Hugo's section page
# (/posts/) lists every article, as the publisher's yearly archive pages do between them.
HUGO_LAYOUTS = {
    "_default/baseof.html": """\
<!DOCTYPE html>
<html lang="{{ site.LanguageCode }}">
<head>
<meta charset="utf-8">
<title>{{ block "title" . }}{{ .Title }} · {{ site.Title }}{{ end }}</title>
{{ range .AlternativeOutputFormats -}}
<link rel="{{ .Rel }}" type="{{ .MediaType.Type }}" href="{{ .Permalink }}">
{{ end -}}
</head>
<body>
<header><a href="{{ "" | relURL }}">{{ site.Title }}</a></header>
<main>{{ block "main" . }}{{ end }}</main>
</body>
</html>
""",
    "_default/single.html": """\
{{ define "main" }}
<article>
<h1>{{ .Title }}</h1>
<p class="meta">{{ with .Params.author }}{{ . }} · {{ end }}
<time datetime="{{ .Date.Format "2006-01-02" }}">{{ .Date.Format "January 2, 2006" }}</time></p>
<p class="tags">{{ range .Params.tags }}
<a href="{{ "tags/" | relURL }}{{ . | urlize }}/">{{ . }}</a>
{{ end }}</p>
{{ .Content }}
<footer>
{{ with .Params.credits }}<p>{{ . }}</p>{{ end }}
{{ with .Params.attribution }}<p>{{ . }}</p>{{ end }}
{{ with .Params.source_url }}<p><a href="{{ . }}">Original article</a></p>{{ end }}
{{ range .Params.disclaimer }}<p>{{ . }}</p>{{ end }}
</footer>
</article>
{{ end }}
""",
    "_default/list.html": """\
{{ define "main" }}
<h1>{{ .Title }}</h1>
<ul class="listing">
{{ range .Pages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a><br>
<small>{{ with .Params.author }}{{ . }} · {{ end }}{{ .Date.Format "January 2, 2006" }}</small></li>
{{ end }}
</ul>
{{ end }}
""",
    "_default/terms.html": """\
{{ define "main" }}
<h1>{{ .Title }}</h1>
<ul>
{{ range .Data.Terms.Alphabetical }}
<li><a href="{{ .Page.RelPermalink }}">{{ .Page.Title }}</a> ({{ .Count }})</li>
{{ end }}
</ul>
{{ end }}
""",
    "index.html": """\
{{ define "main" }}
<h1>{{ site.Title }}</h1>
<ul class="listing">
{{ range first 50 site.RegularPages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a><br>
<small>{{ with .Params.author }}{{ . }} · {{ end }}{{ .Date.Format "January 2, 2006" }}</small></li>
{{ end }}
</ul>
<h2>Tags</h2>
<p class="tags">{{ range site.Taxonomies.tags.Alphabetical }}
<a href="{{ .Page.RelPermalink }}">{{ .Page.Title }}</a>
{{ end }}</p>
{{ end }}
""",
    "_default/rss.xml": """\
{{- $pages := .Pages -}}
{{- if .IsHome }}{{ $pages = site.RegularPages }}{{ end -}}
{{- printf "<?xml version=\\"1.0\\" encoding=\\"utf-8\\" standalone=\\"yes\\"?>" | safeHTML }}
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
<title>{{ .Title }} · {{ site.Title }}</title>
<link>{{ .Permalink }}</link>
<description>{{ .Title }}</description>
{{ with .OutputFormats.Get "RSS" -}}
<atom:link href="{{ .Permalink }}" rel="self" type="{{ .MediaType }}"/>
{{- end }}
{{ range first 50 $pages }}<item>
<title>{{ .Title }}</title>
<link>{{ .Permalink }}</link>
<pubDate>{{ .Date.Format "Mon, 02 Jan 2006 15:04:05 -0700" | safeHTML }}</pubDate>
<guid>{{ .Permalink }}</guid>
<description>{{ .Content | html }}</description>
</item>
{{ end }}</channel>
</rss>
""",
}


def hugo_article(name: str, text: str, meta: ArticleMeta) -> tuple[str, str]:
    """``(file name, text)`` of one publisher article as a Hugo content file.

    A Markdown article keeps its bytes: its YAML front matter (title, date, slug, tags and the
    provenance fields) is valid Hugo front matter. A ``.txt`` capture gets a front matter of its
    title, date, slug, tags, author and source URL, and its prose after the title (byline,
    boilerplate, body, bio, credits, attribution, disclaimer) as the Markdown body, unchanged.
    """
    if name.endswith(".md"):
        return name, text
    _, _, after_front = text.split("---\n", 2)
    _title, _, prose = after_front.partition("\n\n")
    tags = ", ".join(_yaml(t) for t in (meta.region, *meta.themes))
    front = [
        f"title: {_yaml(meta.title)}",
        f"date: {meta.published.isoformat()}",
        f"slug: {meta.slug}",
        f"tags: [{tags}]",
        f"author: {_yaml(meta.author)}",
        f"source_url: https://harborwire.example.net/bench/{meta.slug}",
    ]
    return f"{meta.slug}.md", "---\n" + "\n".join(front) + "\n---\n\n" + prose


def make_hugo_site(site: Path, corpus_content: Path, corpus: Corpus, n: int) -> set[str]:
    """The Hugo site of articles ``0 .. n-1``: config, layouts, content/posts (Markdown linked).

    Returns the tags of those articles (all 20 but at the smallest sizes).
    """
    (site / "hugo.toml").parent.mkdir(parents=True, exist_ok=True)
    (site / "hugo.toml").write_text(HUGO_CONFIG, encoding="utf-8")
    for relative, text in HUGO_LAYOUTS.items():
        path = site / "layouts" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    posts = site / "content" / "posts"
    posts.mkdir(parents=True)
    tags: set[str] = set()
    for i in range(n):
        meta, body = corpus.draw(i)
        tags.update((meta.region, *meta.themes))
        if i % 2:  # a Markdown article: the same file
            os.link(corpus_content / f"{meta.slug}.md", posts / f"{meta.slug}.md")
        else:  # a capture, drawn once (not again through Corpus.article)
            name, text = hugo_article(".txt", capture_text(meta, body), meta)
            (posts / name).write_text(text, encoding="utf-8")
    return tags


def hugo_version(command: str) -> str:
    """The first line of ``hugo version``."""
    out = subprocess.run([command, "version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).strip().splitlines()[0] if out.stdout or out.stderr else "?"


def _count_pages(folder: Path) -> int:
    """Folders of ``folder`` holding an ``index.html`` (Hugo's pretty URLs)."""
    if not folder.is_dir():
        return 0
    return sum(1 for entry in os.scandir(folder) if (Path(entry.path) / "index.html").is_file())


def run_hugo(
    command: str, site: Path, dest: Path, cache: Path, n: int, n_tags: int
) -> tuple[Process, str]:
    """One ``hugo`` build into the fresh ``dest``; a note when pages are missing or it failed."""
    argv = [command, "--quiet", "--noBuildLock", "--source", str(site)]
    argv += ["--destination", str(dest), "--cacheDir", str(cache)]
    process = run_measured(argv, dict(os.environ))
    if process.exit_code != 0:
        return process, f"exit {process.exit_code}: {process.stderr.strip()[-300:]}"
    articles, tags = _count_pages(dest / "posts"), _count_pages(dest / "tags")
    if articles != n or tags != n_tags or not (dest / "index.xml").is_file():
        return process, f"expected {n} article and {n_tags} tag pages, found {articles}/{tags}"
    return process, ""


# -- measuring ----------------------------------------------------------------------------------


@dataclass
class Run:
    """One measured process of one cell."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    tree_pss_mb: float
    exit_code: int
    note: str = ""
    new: int | None = None
    outputs_written: int | None = None

    @classmethod
    def of(cls, process: Process, note: str) -> Run:
        return cls(
            wall_s=round(process.wall_s, 3),
            cpu_s=round(process.cpu_s, 3),
            peak_rss_mb=round(process.max_rss_kib / 1024, 1),
            tree_pss_mb=round(process.tree_pss_kib / 1024, 1),
            exit_code=process.exit_code,
            note=note,
            new=_count(REPORT_LINE, process.stdout, "new"),
            outputs_written=_count(OUTPUTS_LINE, process.stdout, "written"),
        )


@dataclass
class Cell:
    """The runs of one tool in one phase at one size, and their medians."""

    runs: list[Run] = field(default_factory=list)

    def median(self, figure: str) -> float:
        return float(statistics.median(getattr(run, figure) for run in self.runs))

    def memory_mb(self) -> float:
        """The larger of peak RSS and tree PSS, over every run: what the goals apply to."""
        return max(max(run.peak_rss_mb, run.tree_pss_mb) for run in self.runs)

    def summary(self) -> dict[str, Any]:
        return {
            "median_wall_s": self.median("wall_s"),
            "median_cpu_s": self.median("cpu_s"),
            "median_peak_rss_mb": self.median("peak_rss_mb"),
            "median_tree_pss_mb": self.median("tree_pss_mb"),
            "memory_mb": self.memory_mb(),
            "runs": [asdict(run) for run in self.runs],
        }


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "?"


@dataclass
class Size:
    """Everything measured at one N."""

    n: int
    loadavg_start: str
    loadavg_end: str = ""
    corpus_mib: float = 0.0
    generate_s: float = 0.0
    publisher: dict[str, Cell] = field(default_factory=dict)
    hugo: dict[str, Cell] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)  # tag pages Hugo must make, by phase

    def ratio(self, phase: str, figure: str = "wall_s") -> float | None:
        """Publisher ÷ Hugo, medians of ``figure`` (``None`` without Hugo)."""
        if phase not in self.hugo or not self.hugo[phase].runs:
            return None
        return self.publisher[phase].median(figure) / self.hugo[phase].median(figure)

    def goals(self, phase: str) -> list[tuple[Goal, bool | None]]:
        """The goals of this row, each met, missed, or ``None`` (not measurable: no Hugo)."""
        results: list[tuple[Goal, bool | None]] = []
        cell = self.publisher[phase]
        for goal in GOALS:
            if goal.n != self.n or goal.phase not in (None, phase):
                continue
            value: float | None
            if goal.figure == "ratio":
                value = self.ratio(phase)
            elif goal.figure == "wall_s":
                value = cell.median("wall_s")
            else:
                value = cell.memory_mb()
            failed = any(run.exit_code or run.note for run in cell.runs)
            results.append((goal, None if value is None else goal.met(value) and not failed))
        return results


def bench_size(n: int, args: argparse.Namespace, corpus: Corpus, parent: Path) -> Size:
    """Generate the corpus and the Hugo site once, then the interleaved runs."""
    size = Size(n=n, loadavg_start=loadavg())
    log(f"N={n}: loadavg at start: {size.loadavg_start}")
    started = time.perf_counter()
    corpus_content = parent / f"corpus-{n}" / "content"
    size.corpus_mib = write_articles(corpus, corpus_content, range(n)) / 2**20
    extra_name, extra_text = corpus.article(n, latest=True)
    site = parent / f"hugo-{n}"
    hugo_extra, hugo_extra_path = ("", ""), site
    if args.hugo:
        tags = make_hugo_site(site, corpus_content, corpus, n)
        extra_meta = corpus.draw(n, latest=True)[0]
        hugo_extra = hugo_article(extra_name, extra_text, extra_meta)
        size.tags = {
            "full": len(tags),
            "add-one": len(tags | {extra_meta.region, *extra_meta.themes}),
        }
        hugo_extra_path = site / "content" / "posts" / hugo_extra[0]
    size.generate_s = time.perf_counter() - started
    log(f"N={n}: corpus of {size.corpus_mib:.1f} MiB (and Hugo site) in {size.generate_s:.1f} s")
    size.publisher = {phase: Cell() for phase in PHASES}
    if args.hugo:
        size.hugo = {"full": Cell(), "add-one": Cell()}
    env = publish_env()
    command = [args.publisher]
    expected_new = {"full": n, "unchanged": 0, "add-one": 1}
    try:
        for r in range(args.runs):
            root = make_root(parent, n).rename(parent / f"root-{n}-{r}")
            shutil.copytree(corpus_content, root / "content", copy_function=os.link)
            for phase in PHASES:
                if phase == "add-one":
                    (root / "content" / extra_name).write_text(extra_text, encoding="utf-8")
                log(f"N={n} run {r + 1}/{args.runs}: publisher {phase} ...")
                process = run_publish(command, root, env)
                run = Run.of(process, _publish_note(process, expected_new[phase]))
                size.publisher[phase].runs.append(run)
                memory = max(run.peak_rss_mb, run.tree_pss_mb)
                log(f"  {run.wall_s:.2f} s, {memory:.0f} MB {run.note}")
                if args.hugo and phase in size.hugo:
                    _hugo_run(size, phase, args, site, hugo_extra, hugo_extra_path, parent, r)
            if not args.keep:
                shutil.rmtree(root)
    finally:
        if not args.keep:
            shutil.rmtree(corpus_content.parent, ignore_errors=True)
            shutil.rmtree(site, ignore_errors=True)
    size.loadavg_end = loadavg()
    log(f"N={n}: loadavg at end: {size.loadavg_end}")
    return size


def _hugo_run(
    size: Size,
    phase: str,
    args: argparse.Namespace,
    site: Path,
    extra: tuple[str, str],
    extra_path: Path,
    parent: Path,
    r: int,
) -> None:
    """One Hugo build of ``phase`` (``add-one``: with the extra article, removed after)."""
    n = size.n + (phase == "add-one")
    dest = parent / f"hugo-public-{size.n}-{phase}-{r}"
    if phase == "add-one":
        extra_path.write_text(extra[1], encoding="utf-8")
    log(f"N={size.n} run {r + 1}/{args.runs}: hugo {phase} ...")
    try:
        process, note = run_hugo(args.hugo, site, dest, parent / "hugo-cache", n, size.tags[phase])
    finally:
        if phase == "add-one":
            extra_path.unlink()
    run = Run.of(process, note)
    size.hugo[phase].runs.append(run)
    log(f"  {run.wall_s:.2f} s, {run.peak_rss_mb:.0f} MB {run.note}")
    if not args.keep:
        shutil.rmtree(dest, ignore_errors=True)


def _publish_note(process: Process, expected_new: int) -> str:
    if process.exit_code != 0:
        return f"exit {process.exit_code}: {process.stderr.strip()[-300:]}"
    new = _count(REPORT_LINE, process.stdout, "new")
    if new != expected_new:
        return f"expected {expected_new} new articles, publisher reported {new}"
    return ""


# -- reporting ----------------------------------------------------------------------------------


def _walls(cell: Cell) -> str:
    runs = ", ".join(f"{run.wall_s:.2f}" for run in cell.runs)
    return f"{cell.median('wall_s'):.2f} ({runs})"


def print_size(size: Size, hugo: bool) -> None:
    """One table for one N: a row per phase, a line per further goal of the row."""
    print(f"\nN = {size.n:,}  ({size.corpus_mib:.0f} MiB of articles)")
    print(f"  loadavg at start: {size.loadavg_start}")
    print(f"  loadavg at end:   {size.loadavg_end}")
    header = (
        f"  {'phase':<9}  {'publisher wall s: median (runs)':<34}  {'cpu s':>6}  "
        f"{'RSS / PSS MB':>13}  {'hugo wall s: median (runs)':<29}  {'cpu s':>6}  "
        f"{'RSS MB':>6}  {'pub/hugo':>8}  {'goal':<16}  result"
    )
    print(header)
    for phase in PHASES:
        pub = size.publisher[phase]
        memory = f"{pub.median('peak_rss_mb'):.0f} / {pub.median('tree_pss_mb'):.0f}"
        hcell = size.hugo.get(phase)
        if hcell and hcell.runs:
            hwall, hcpu = _walls(hcell), f"{hcell.median('cpu_s'):.2f}"
            hrss = f"{hcell.median('peak_rss_mb'):.0f}"
        else:  # Hugo has no unchanged phase
            hwall = "skipped" if not hugo and phase != "unchanged" else "-"
            hcpu, hrss = "-", "-"
        ratio = size.ratio(phase)
        ratio_text = f"{ratio:.2f}×" if ratio is not None else "-"
        goals = size.goals(phase)
        lead = (
            f"  {phase:<9}  {_walls(pub):<34}  {pub.median('cpu_s'):>6.2f}  {memory:>13}  "
            f"{hwall:<29}  {hcpu:>6}  {hrss:>6}  {ratio_text:>8}"
        )
        if not goals:
            print(lead)
        for index, (goal, met) in enumerate(goals):
            result = "no Hugo: not checked" if met is None else ("OK" if met else "MISSED")
            prefix = lead if index == 0 else " " * len(lead)
            print(f"{prefix}  {goal.text():<16}  {result}")
        for tool, cell in (("publisher", pub), ("hugo", hcell)):
            for r, run in enumerate(cell.runs if cell else []):
                if run.note:
                    print(f"    note, {tool} run {r + 1}: {run.note}")
    by_cpu = [(phase, size.ratio(phase, "cpu_s")) for phase in ("full", "add-one")]
    if all(ratio is not None for _, ratio in by_cpu):
        # Steadier than wall time when the machine is shared; Hugo's CPU counts both its cores.
        print("  pub/hugo by CPU: " + ", ".join(f"{p} {r:.2f}×" for p, r in by_cpu))
    sys.stdout.flush()


def print_add_one_trend(sizes: list[Size]) -> None:
    """The add-one wall time by N: the goal is that it stays flat."""
    if len(sizes) > 1:
        walls = ", ".join(
            f"{s.n:,}: {s.publisher['add-one'].median('wall_s'):.2f} s" for s in sizes
        )
        print(f"\npublisher add-one wall by N (goal: flat, ≤ 0.5 s): {walls}")


def write_json(path: Path, sizes: list[Size], args: argparse.Namespace, hugo: str) -> None:
    """The results with enough context to compare runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "build",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "publisher": [args.publisher, "--root", "ROOT", "publish"],
        "hugo": hugo,
        "seed": args.seed,
        "runs": args.runs,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        # Python spawns with vfork, and Linux counts the parent's resident set into a child's
        # ru_maxrss at exec: no peak RSS below this figure means anything.
        "bench_process_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "goals": [asdict(goal) | {"text": goal.text()} for goal in GOALS],
        "sizes": [
            {
                "n": s.n,
                "loadavg_start": s.loadavg_start,
                "loadavg_end": s.loadavg_end,
                "corpus_mib": round(s.corpus_mib, 1),
                "generate_s": round(s.generate_s, 1),
                "publisher": {phase: cell.summary() for phase, cell in s.publisher.items()},
                "hugo": {phase: cell.summary() for phase, cell in s.hugo.items() if cell.runs},
                "ratios": {phase: s.ratio(phase) for phase in ("full", "add-one")},
                "cpu_ratios": {phase: s.ratio(phase, "cpu_s") for phase in ("full", "add-one")},
                "goals": [
                    {"phase": phase, "goal": goal.text(), "met": met}
                    for phase in PHASES
                    for goal, met in s.goals(phase)
                ],
            }
            for s in sizes
        ],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--sizes", type=int_list, default=[1000, 10000, 100000], help="e.g. 1000,10000"
    )
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs per size (3)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the synthetic corpus")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help="where the corpus, roots and Hugo sites are made (the project's disk: this "
        "machine's /tmp creates files about 12 times slower)",
    )
    parser.add_argument("--keep", action="store_true", help="keep corpora, roots and outputs")
    parser.add_argument("--no-hugo", action="store_true", help="measure the publisher only")
    parser.add_argument(
        "--publisher",
        default=shutil.which("publisher", path=str(Path(sys.executable).parent))
        or shutil.which("publisher"),
        help="the publisher command (default: the one next to this Python)",
    )
    parser.add_argument(
        "--hugo-command", default=shutil.which("hugo"), help="the hugo command (default: PATH)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every size; exit 1 when a build failed (missed goals are reported, not fatal)."""
    args = parse_args(argv)
    if not args.publisher:
        log("error: no `publisher` command found; pass --publisher PATH")
        return 2
    args.hugo = None if args.no_hugo else args.hugo_command
    if args.hugo:
        version = hugo_version(args.hugo)
        print(f"hugo: {version}")
    elif args.no_hugo:
        version = "skipped (--no-hugo)"
        print("hugo: skipped (--no-hugo); no ratios")
    else:
        version = "not installed"
        print("hugo: not installed (apt-get install hugo), Hugo runs skipped; no ratios")
    print(f"publisher: {args.publisher}; {args.runs} run(s) per size, medians; ratio = pub/hugo")
    corpus = Corpus(args.seed)
    args.workdir.mkdir(parents=True, exist_ok=True)
    parent = Path(tempfile.mkdtemp(prefix="bench-build-", dir=args.workdir))
    sizes: list[Size] = []
    try:
        for n in args.sizes:
            sizes.append(bench_size(n, args, corpus, parent))
            print_size(sizes[-1], bool(args.hugo))
    finally:
        if args.keep:
            log(f"corpora, roots and outputs kept in {parent}")
        else:
            shutil.rmtree(parent, ignore_errors=True)
    print_add_one_trend(sizes)
    write_json(args.out, sizes, args, version)
    log(f"results: {args.out}")
    cells = [c for s in sizes for c in (*s.publisher.values(), *s.hugo.values())]
    return 1 if any(run.exit_code or run.note for cell in cells for run in cell.runs) else 0


if __name__ == "__main__":
    sys.exit(main())
