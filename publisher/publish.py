"""One publish: scan → store → build → fidelity gate → atomic writes.

Work is proportional to what changed: unchanged files (same size and mtime) are not read again,
and only the outputs that can contain a changed article are rebuilt. A change of templates,
profiles or settings changes the build signature, and then everything is re-read and rebuilt —
still writing only the files whose bytes differ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment

from publisher import __version__
from publisher.capture import Profile, load_profiles
from publisher.config import Settings, SiteSettings
from publisher.errors import RenderError
from publisher.export import Checked, Exporter, failed, gate, place
from publisher.listings import Lists, Scope
from publisher.models import Article, Problem, RunReport
from publisher.pages import article_page, article_path
from publisher.parallel import fan_out
from publisher.render import environment_for, templates_signature
from publisher.scan import ContentFile, scan
from publisher.sources import Limits, ReadResult, read_article
from publisher.store import SlugConflict, Store
from publisher.websub import changed_feeds, ping

Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    """The default progress callback: silence."""


@dataclass
class Changes:
    """What ingestion changed, so the build touches only what can contain it.

    Changed articles are kept only for an incremental build; a full one streams them all
    from the store instead of holding thousands in memory.
    """

    keep: bool
    count: int = 0
    articles: list[Article] = field(default_factory=list)
    gone_slugs: set[str] = field(default_factory=set)
    scope: Scope = field(default_factory=Scope)

    def add(self, article: Article) -> None:
        self.count += 1
        if self.keep:
            self.articles.append(article)

    def __bool__(self) -> bool:
        return bool(self.count or self.gone_slugs)


@dataclass
class Run:
    """Everything one publish works with."""

    settings: Settings
    store: Store
    env: Environment
    profiles: list[Profile]
    now: datetime
    report: RunReport
    progress: Progress

    def signature(self) -> str:
        """What outputs depend on besides articles: code, templates, profiles and settings."""
        s = self.settings
        parts = [__version__, templates_signature(self.env), repr(self.profiles)]
        parts += [repr(s.site), repr(s.feeds), repr(s.output.index_entries)]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()


ReadState = tuple[list[Profile], ZoneInfo, Limits]


def _as_is(recipe: ReadState) -> ReadState:
    """Profiles, the zone and limits travel to workers as they are (compiled patterns pickle)."""
    return recipe


def _read(state: ReadState, item: ContentFile) -> ReadResult:
    profiles, zone, limits = state
    return read_article(item.path, item.relative, profiles, zone, limits)


def _store_file(
    run: Run, item: ContentFile, result: ReadResult, live: set[str], changes: Changes
) -> None:
    problems = result.problems
    if result.article is not None:
        base_url = run.settings.site.base_url
        try:
            done = run.store.upsert_article(result.article, base_url, run.now, live)
        except SlugConflict as conflict:
            # Not cached: the file is read again next run, when the other file may be gone.
            hint = "set a different `slug:` in its front matter"
            run.report.skipped.append(Problem(item.relative, str(conflict), hint))
            return
        if done.status != "unchanged":
            (run.report.new if done.status == "new" else run.report.updated).append(item.relative)
            changes.add(done.article)
            zone = run.settings.zone
            changes.scope.add(done.article.tags, done.article.published, zone=zone)
            changes.scope.add(done.old_tags, done.old_published, zone=zone)
            if done.old_slug and done.old_slug != done.article.slug:
                changes.gone_slugs.add(done.old_slug)
    run.store.record_file(item.relative, item.mtime_ns, item.size, problems)


def ingest(run: Run, reread: bool) -> Changes:
    """Read new and changed files into the store; withdraw articles whose file is gone."""
    settings, store, report = run.settings, run.store, run.report
    cached = store.file_states()
    found = list(scan(settings.path(settings.content.dir), settings.content.max_file_bytes))
    live = {item.relative if isinstance(item, ContentFile) else item.path for item in found}
    # A folder that could not be listed (its problem's path ends in "/") hides its files this
    # run; they are not gone, so their articles stay.
    unlisted = tuple(p.path for p in found if isinstance(p, Problem) and p.path.endswith("/"))
    live |= {path for path in cached if path.startswith(unlisted)}
    todo = []
    for item in found:
        if isinstance(item, Problem):
            report.skipped.append(item)
        elif not reread and cached.get(item.relative) == (item.mtime_ns, item.size):
            report.unchanged += 1
        else:
            todo.append(item)
    changes = Changes(keep=not reread)
    limits = Limits.from_settings(settings.content)
    results = fan_out(_read, _as_is, (run.profiles, settings.zone, limits), todo)
    for done, (item, result) in enumerate(zip(todo, results, strict=True), 1):
        _store_file(run, item, result, live, changes)
        run.progress("read", done, len(todo))
    vanished = set(cached) - live
    for article in store.withdraw(sorted(vanished)):
        report.removed.append(article.source_path)
        changes.gone_slugs.add(article.slug)
        changes.scope.add(article.tags, article.published, zone=settings.zone)
    store.forget_files(vanished)
    report.skipped += store.file_problems()
    return changes


@dataclass(frozen=True)
class PageWork:
    """What a worker needs to render, gate and write article pages."""

    env: Environment
    site: SiteSettings
    public_dir: Path
    hashes: dict[str, str]


def _page_work(recipe: tuple[Settings, Path, dict[str, str]]) -> PageWork:
    """A worker's page state, made from picklable parts (an Environment does not pickle)."""
    settings, public_dir, hashes = recipe
    return PageWork(environment_for(settings), settings.site, public_dir, hashes)


def _page(work: PageWork, article: Article) -> Checked:
    path = article_path(article.slug)
    try:
        checked = gate(article_page(work.env, work.site, article))
    except RenderError as exc:
        return failed(path, str(exc))
    return place(work.public_dir, checked, work.hashes.get(path))


def build(run: Run, exporter: Exporter, changes: Changes, full: bool) -> None:
    """Render and export what ``changes`` touches (everything when ``full``)."""
    store = run.store
    if full:
        total, articles = store.article_count(), store.each_article()
    else:
        total, articles = len(changes.articles), iter(changes.articles)
        for slug in changes.gone_slugs - {a.slug for a in changes.articles}:
            exporter.remove(article_path(slug))
    recipe = (run.settings, exporter.public_dir, exporter.hashes)
    pages = fan_out(_page, _page_work, recipe, articles)
    for done, checked in enumerate(pages, 1):
        exporter.publish(checked)
        run.progress("render", done, total)
    if full or changes:
        lists = Lists(store, run.env, run.settings)
        every_tag = {tag for group in lists.groups.values() for tag in group}
        scope = Scope(every_tag, set(lists.years)) if full else changes.scope
        try:
            for output in lists.build(scope):
                exporter.emit(output)
        except RenderError as exc:
            exporter.publish(failed("feeds and listings", str(exc)))
        for path in lists.stale(scope):
            exporter.remove(path)
    if full and not run.report.refused:  # with a refusal, what was published before stays
        exporter.remove_unproduced()
    exporter.restore_missing()


def publish(
    settings: Settings,
    now: datetime,
    progress: Progress = _no_progress,
    *,
    wait: float | None = None,
) -> RunReport:
    """Publish ``content/`` into the store and ``public/``; returns what was done.

    ``wait`` bounds how long files still being written are waited for (default:
    ``content.settle_wait_seconds``, what one-shot commands want; the worker waits less, as
    the watcher sees the file again).

    :raises ConfigError: for bad settings or profiles.
    :raises StoreError: when the database cannot be reached or written.
    """
    store = Store.open(settings.database_url)
    try:
        report = RunReport()
        env = environment_for(settings)
        profiles = load_profiles(settings.path(settings.content.profiles_dir))
        run = Run(settings, store, env, profiles, now, report, progress)
        with store.transaction(exclusive="publish"):
            signature = run.signature()
            full = store.get_meta("build_signature") != signature
            changes = ingest(run, reread=full)
            exporter = Exporter(store, settings.path(settings.output.public_dir), now, report)
            build(run, exporter, changes, full)
            store.set_meta("build_signature", signature)
            store.save_problems(report.skipped, now)
        # After the commit, so a hub that fetches at once gets the new feed.
        hub = settings.feeds.hub
        topics = changed_feeds(report.written, settings.site.base_url) if hub else []
        if topics:
            report.unpinged = ping(hub, topics)
            report.pinged = [t for t in topics if t not in report.unpinged]
        return report
    finally:
        store.close()
