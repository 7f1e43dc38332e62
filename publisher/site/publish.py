"""One publish: scan → settle → read → store → build → fidelity gate → atomic writes.

Work is proportional to what changed: unchanged files (same size and mtime) are not read again,
and only the outputs that can contain a changed article are rebuilt. A change of templates,
profiles or settings changes the build signature, and then everything is re-read and rebuilt —
still writing only the files whose bytes differ.

Two publishes never build at once (:func:`publisher.store.locks.held`), but that lock is not the
database's: files are read and pages rendered with no transaction open, and what is stored is
written in short transactions, a chunk at a time. The store's backlog says what was stored and
not built yet, and its export journal which files were being changed, so a publish that died
half-way is completed by the next one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from jinja2 import Environment

from publisher import __version__
from publisher.config.settings import Settings, SiteSettings
from publisher.content.captures import Profile, load_profiles
from publisher.content.reading import Limits, ReadResult, read_article
from publisher.content.scan import ContentFile, scan
from publisher.content.settle import settle
from publisher.errors import RenderError
from publisher.models import Article, Problem, RunReport
from publisher.site import parallel
from publisher.site.export import Checked, Exporter, failed, gate, place
from publisher.site.issue_archive import INDEX as INDEX_OF_ISSUES
from publisher.site.issue_archive import IssueArchive
from publisher.site.listings import Job, Lists, Scope, Shape
from publisher.site.pages import article_page, article_path
from publisher.site.parallel import fan_out
from publisher.site.render import environment_for, templates_signature
from publisher.site.websub import changed_feeds, ping
from publisher.store.issues import Issues
from publisher.store.locks import held
from publisher.store.publishing import Store
from publisher.store.records import SlugConflict, Upserted, since_keys

Progress = Callable[[str, int, int], None]
T = TypeVar("T")
CHUNK = 200  # files stored per transaction: other writers wait for one chunk at most
PUBLISH_WAIT = 600.0  # a full rebuild of a large site takes a while: wait for it
LISTS = "feeds and listings"  # what a refusal of a whole unit of list work is reported as
LIST_JOBS = 8  # units of list work (site, tag folders, years) worth starting workers for


def _no_progress(stage: str, done: int, total: int) -> None:
    """The default progress callback: silence."""


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` items (the last may be shorter), taken lazily."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


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
        parts += [repr(s.output.page_size)]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def years(self, *moments: datetime | None) -> set[int]:
        """The archive years of ``moments`` on the site's calendar."""
        return {m.astimezone(self.settings.zone).year for m in moments if m is not None}


ReadState = tuple[list[Profile], ZoneInfo, Limits]


def _as_is(recipe: ReadState) -> ReadState:
    """Profiles, the zone and limits travel to workers as they are (compiled patterns pickle)."""
    return recipe


def _read(state: ReadState, item: ContentFile) -> ReadResult:
    profiles, zone, limits = state
    return read_article(item.path, item.relative, profiles, zone, limits)


def _note_change(run: Run, done: Upserted) -> None:
    """Put what a stored change touches in the backlog, in the same transaction."""
    article, builds = done.article, run.store.builds
    builds.note_backlog("article", [article.uid])
    builds.note_backlog("tag", {*article.tags, *done.old_tags})
    builds.note_backlog("year", run.years(article.published, done.old_published))
    tags, moments = {*article.tags, *done.old_tags}, (article.published, done.old_published)
    builds.note_backlog("since", since_keys(tags, *moments))  # where its lists' pages change
    if done.old_slug and done.old_slug != article.slug:
        builds.note_backlog("gone", [done.old_slug])


def _store_file(run: Run, item: ContentFile, result: ReadResult, live: set[str]) -> None:
    report = run.report
    if result.article is not None:
        base_url = run.settings.site.base_url
        try:
            done = run.store.articles.upsert(result.article, base_url, run.now, live)
        except SlugConflict as conflict:
            # Not cached: the file is read again next run, when the other file may be gone.
            hint = "set a different `slug:` (or `id:`) in its front matter"
            report.skipped.append(Problem(item.relative, str(conflict), hint, field="slug"))
            return
        if done.status != "unchanged":
            (report.new if done.status == "new" else report.updated).append(item.relative)
            _note_change(run, done)
        declared = result.article.uid
        if declared and declared != done.article.uid:
            reason = f"id: the article already has the id {done.article.uid!r}; ids never change"
            result.problems.append(Problem(item.relative, reason, "", "warning", "id"))
    run.store.files.record(item.relative, item.mtime_ns, item.size, result.problems)


def _settled(run: Run, todo: list[ContentFile], wait: float | None) -> list[ContentFile]:
    """The files of ``todo`` that hold still; the others are reported (errors for one-shot
    commands, which waited the whole ``settle_wait_seconds``)."""
    content = run.settings.content
    found = settle(
        todo, content.settle_seconds, content.settle_wait_seconds if wait is None else wait
    )
    for item in found.moving:
        if wait is None:
            reason = f"still being written: it kept changing for {content.settle_wait_seconds:g} s"
            hint = "publish again once the file is complete"
            run.report.skipped.append(Problem(item.relative, reason, hint))
        else:
            reason = "still being written; published once it holds still"
            run.report.skipped.append(Problem(item.relative, reason, "", "warning"))
    return found.ready


def ingest(run: Run, reread: bool, wait: float | None) -> None:
    """Read new and changed files into the store, a chunk per transaction; withdraw articles
    whose file is gone."""
    settings, store, report = run.settings, run.store, run.report
    cached = store.files.states()
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
    ready = _settled(run, todo, wait)
    limits = Limits.from_settings(settings.content)
    results = fan_out(_read, _as_is, (run.profiles, settings.zone, limits), ready)
    done = 0
    # The chunk is read (in workers, for large batches) before its transaction opens.
    for chunk in chunks(zip(ready, results, strict=True), CHUNK):
        with store.transaction():
            for item, result in chunk:
                _store_file(run, item, result, live)
        done += len(chunk)
        run.progress("read", done, len(ready))
    _withdraw(run, set(cached) - live)
    report.skipped += store.files.problems()


def _withdraw(run: Run, vanished: set[str]) -> None:
    if not vanished:
        return
    store = run.store
    with store.transaction():
        for article in store.articles.withdraw(sorted(vanished)):
            run.report.removed.append(article.source_path)
            store.builds.note_backlog("gone", [article.slug])
            store.builds.note_backlog("tag", article.tags)
            store.builds.note_backlog("year", run.years(article.published))
            store.builds.note_backlog("since", since_keys(article.tags, article.published))
        store.files.forget(vanished)


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


def _pages(run: Run, exporter: Exporter, full: bool, changed: set[str], gone: set[str]) -> None:
    """Article pages: every one for a full build, else those of the backlog."""
    stored = run.store.articles
    if full:
        slugs = stored.slugs()
        total, articles = len(slugs), stored.each()
    else:
        listed = list(stored.each(changed))
        slugs = [a.slug for a in listed]
        total, articles = len(listed), iter(listed)
        exporter.remove(article_path(slug) for slug in gone - set(slugs))
    exporter.expect(article_path(slug) for slug in slugs)  # before workers write them
    recipe = (run.settings, exporter.public_dir, exporter.hashes)
    for done, checked in enumerate(fan_out(_page, _page_work, recipe, articles), 1):
        exporter.publish(checked)
        run.progress("render", done, total)


ListRecipe = tuple[Settings, Shape]


def _list_work(recipe: ListRecipe) -> Lists:
    """A worker's lists, over a store connection of its own (closed when the worker ends)."""
    settings, shape = recipe
    store = Store.open(settings.database_url)
    Finalize(store, store.close, exitpriority=10)
    return Lists(store.articles, environment_for(settings), settings, shape)


def _list_outputs(lists: Lists, job: Job) -> list[Checked]:
    """One unit of list work rendered and gated; a template that fails refuses the unit."""
    try:
        return [gate(output) for output in lists.job(job)]
    except RenderError as exc:
        return [failed(LISTS, str(exc))]


def _lists(run: Run, exporter: Exporter, scope: Scope, lists: Lists) -> None:
    """Feeds and listing pages: in workers when there are many of a large site (a full build),
    here otherwise; written and recorded here, each failure reported once."""
    jobs = lists.jobs(scope)
    large = sum(lists.years.values()) >= parallel.THRESHOLD
    threshold = LIST_JOBS if large else len(jobs) + 1
    recipe = (run.settings, lists.shape)
    results = fan_out(
        _list_outputs, _list_work, recipe, jobs, threshold=threshold, here=lambda: lists
    )
    refused: set[tuple[str, ...]] = set()
    for checked in (checked for outputs in results for checked in outputs):
        if checked.errors and checked.output.path == LISTS:
            if checked.errors in refused:
                continue
            refused.add(checked.errors)
        exporter.admit(checked)
    exporter.finish()
    exporter.remove(lists.stale(scope, exporter.hashes))


def _issue_archive(run: Run, exporter: Exporter, full: bool) -> None:
    """The archive of issues: all of it for a full build, else what a new issue adds."""
    archive = IssueArchive(Issues(run.store.engine), run.env, run.settings)
    try:
        for output in archive.outputs(None if full else exporter.hashes):
            exporter.admit(gate(output))
    except RenderError as exc:
        exporter.admit(failed(INDEX_OF_ISSUES, str(exc)))


def build(run: Run, exporter: Exporter, full: bool) -> None:
    """Render and export what the backlog touches (everything when ``full``), and what new
    issues add to their archive."""
    backlog = run.store.builds.backlog()
    _pages(run, exporter, full, backlog.articles, backlog.gone)
    if full or backlog:
        lists = Lists(run.store.articles, run.env, run.settings)
        every_tag = {tag for group in lists.groups.values() for tag in group}
        scope = Scope(every_tag, set(lists.years)) if full else Scope.of(backlog)
        _lists(run, exporter, scope, lists)
    _issue_archive(run, exporter, full)
    exporter.finish()
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

    ``wait`` bounds how long files still being written are waited for. The default is a
    one-shot command's: ``content.settle_wait_seconds``, and a file that never settles is an
    error. The worker waits less, as the watcher sees the file again, and reports a warning.

    :raises ConfigError: for bad settings or profiles.
    :raises StoreError: when the database cannot be reached or written.
    :raises LockTimeout: when another publish held the lock for longer than ten minutes.
    """
    store = Store.open(settings.database_url)
    try:
        report = RunReport()
        env = environment_for(settings)
        profiles = load_profiles(settings.path(settings.content.profiles_dir))
        run = Run(settings, store, env, profiles, now, report, progress)
        with held(store.engine, "publish", PUBLISH_WAIT):
            began = time.monotonic()
            exporter = Exporter(store, settings.path(settings.output.public_dir), now, report)
            exporter.recover()
            signature = run.signature()
            full = store.builds.signature() != signature
            ingest(run, full, wait)
            build(run, exporter, full)
            with store.transaction():
                store.builds.set_signature(signature)
                store.builds.clear_backlog()
                store.builds.clear_journal()
                store.builds.save_problems(report.skipped, now)
                seconds = time.monotonic() - began
                store.builds.note_publish(publish_record(report, now, seconds, full))
        # After the commit, so a hub that fetches at once gets the new feed.
        hub = settings.feeds.hub
        topics = changed_feeds(report.written, settings.site.base_url) if hub else []
        if topics:
            report.unpinged = ping(hub, topics)
            report.pinged = [t for t in topics if t not in report.unpinged]
        return report
    finally:
        store.close()


def publish_record(report: RunReport, now: datetime, seconds: float, full: bool) -> dict[str, Any]:
    """What the console lists of one finished publish: when, how long, what it changed."""
    errors = sum(1 for p in report.skipped if p.severity == "error")
    return {
        "when": now.isoformat(),
        "seconds": round(seconds, 3),
        "full": full,
        "new": len(report.new),
        "updated": len(report.updated),
        "removed": len(report.removed),
        "written": len(report.written),
        "refused": len(report.refused),
        "problems": errors,
    }
