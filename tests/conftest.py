"""Shared fixtures: a throw-away project root, a fixed clock, and SQLite or PostgreSQL stores."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from publisher.config.loading import load_settings
from publisher.config.settings import Settings
from publisher.models import RunReport
from publisher.site.publish import publish
from tests.smtpserver import MailServer

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
# The tests' own project: a copy of the bundled config/ and content/ as they shipped. Tests never
# read the checkout's config/ or content/, which are the operator's to change.
SITE = REPO / "tests" / "data" / "site"
GOLDEN = REPO / "tests" / "golden"
# Variables of the operator's shell that would point a test at their store, relay or settings.
OPERATOR_ENV = ("PUBLISHER_", "DATABASE_URL", "SMTP_PASSWORD")
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 29, 12, 0, tzinfo=BERLIN)  # the day Berlin moves to summer time
IN_CI = bool(os.environ.get("CI"))
CHROMEDRIVER = shutil.which("chromedriver")


def clean_environ(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the operator's publisher settings, plus ``extra``:
    what a subprocess under test gets."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(OPERATOR_ENV) or k.startswith("PUBLISHER_TEST_")
    }
    return {**kept, **(extra or {})}


@dataclass
class Project:
    """A project root in a temporary folder, with the tests' own config and content."""

    root: Path
    environ: dict[str, str]

    def settings(self) -> Settings:
        return load_settings(self.root, self.environ)

    def publish(self, now: datetime = NOW) -> RunReport:
        return publish(self.settings(), now)

    @property
    def public(self) -> Path:
        return self.root / "public"

    def write(self, name: str, body: str | bytes) -> Path:
        path = self.root / "content" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, str):
            path.write_text(body, encoding="utf-8")
        else:
            path.write_bytes(body)
        return path

    def tree(self) -> dict[str, tuple[str, int]]:
        """``path → (sha256, mtime_ns)`` of every file under ``public/``."""
        return {
            p.relative_to(self.public).as_posix(): (
                hashlib.sha256(p.read_bytes()).hexdigest(),
                p.stat().st_mtime_ns,
            )
            for p in sorted(self.public.rglob("*"))
            if p.is_file()
        }


def _postgres_admin_url() -> str | None:
    url = os.environ.get("PUBLISHER_TEST_DATABASE_URL")
    if not url and IN_CI:
        pytest.fail(
            "PUBLISHER_TEST_DATABASE_URL must be set under CI: PostgreSQL tests may not skip"
        )
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    admin = _postgres_admin_url()
    if not admin:
        pytest.skip("set PUBLISHER_TEST_DATABASE_URL to run the PostgreSQL tests")
    name = f"publisher_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A project root with the tests' config/ and content/, published nowhere yet."""
    root = tmp_path / "site"
    shutil.copytree(SITE / "config", root / "config")
    shutil.copytree(SITE / "content", root / "content")
    return Project(root, {"PUBLISHER_CONTENT__SETTLE_SECONDS": "0"})


@pytest.fixture
def db_project(project: Project, database_url: str) -> Project:
    """The project on SQLite and on PostgreSQL."""
    project.environ["DATABASE_URL"] = database_url
    return project


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    """A real SMTP server on 127.0.0.1 for one test, stopped afterwards."""
    server = MailServer().start()
    try:
        yield server
    finally:
        server.stop()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="Rewrite golden files from current output."
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, bytes], None]:
    """Compare an output with its golden file ``tests/golden/<name>``; ``--update-golden``
    rewrites the file instead."""

    def compare(name: str, produced: bytes) -> None:
        path = GOLDEN / name
        if request.config.getoption("--update-golden"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(produced)
        assert produced == path.read_bytes(), f"run pytest --update-golden to accept {path}"

    return compare


@pytest.fixture
def outboxed(db_project: Project, mail_server: MailServer) -> Iterator[Callable[..., Any]]:
    """Make a project whose outbox holds one open issue to N readers (on both stores)."""
    from tests.outboxes import Outboxed, outboxed_project

    made: list[Outboxed] = []

    def make(readers: int, **env: str) -> Outboxed:
        made.append(outboxed_project(db_project, mail_server, readers, **env))
        return made[-1]

    yield make
    for item in made:
        item.outbox.engine.dispose()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through its chromedriver (never a downloaded browser); the
    browser tests skip themselves when it is missing, except under CI."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMEDRIVER is not None, "CI must install chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def signup(db_project: Project, mail_server: MailServer) -> Iterator[tuple[Any, Any, MailServer]]:
    """A published project's web app with a real relay: (test client, outbox, relay)."""
    db_project.environ.update(mail_server.environ())
    # Every request of the test client comes from one client; its limit is test_abuse's.
    db_project.environ["PUBLISHER_WEB__SUBSCRIBES_PER_CLIENT"] = "1000"
    from starlette.testclient import TestClient

    from publisher.service.web import create_app
    from publisher.store.outbox import Outbox
    from publisher.store.publishing import Store

    db_project.publish()
    settings = db_project.settings()
    store = Store.open(settings.database_url)
    try:
        with TestClient(create_app(settings)) as client:
            yield client, Outbox(store.engine), mail_server
    finally:
        store.close()
