"""What a setting's value may be, beyond its type and range: a URL, a time zone, a folder, a
database URL, an address, a cron line, a list of trusted proxies, a colour.

Each form's check takes the value, its key, its default and the project root, and returns the
value to use (possibly normalised); it raises :class:`ConfigError` with the reason and a hint,
and the loader adds the key, the value and where it came from. Checks import only what they
need, lazily: settings are loaded by every command.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from publisher.config import cron
from publisher.errors import ConfigError
from publisher.urls import is_web_url

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _url(value: str, key: str, default: Any, root: Path) -> str:
    if not is_web_url(value):
        raise ConfigError("expected an absolute http(s) URL", "e.g. https://example.org/")
    return value


def _url_or_empty(value: str, key: str, default: Any, root: Path) -> str:
    return _url(value, key, default, root) if value else value


COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


def _color(value: str, key: str, default: Any, root: Path) -> str:
    """Written into a ``<style>`` block and into every link's style, so only a hex colour."""
    if COLOR.fullmatch(value) is None:
        raise ConfigError("expected a CSS hex colour", f"#rgb or #rrggbb, e.g. {default}")
    return value


def _zone(value: str, key: str, default: Any, root: Path) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        hint = "an IANA name such as Europe/Berlin or UTC (the names under /usr/share/zoneinfo)"
        raise ConfigError("unknown time zone", hint) from exc
    return value


def _folder(value: str, key: str, default: Any, root: Path) -> str:
    path = root / value
    if not path.is_dir():
        state = "is not a folder" if path.exists() else "does not exist"
        raise ConfigError(f"expected a folder, but {path} {state}", f"create it or set {key}")
    if not os.access(path, os.R_OK | os.X_OK):
        raise ConfigError(f"{path} cannot be read", "give this user read access to it")
    return value


def _optional_folder(value: str, key: str, default: Any, root: Path) -> str:
    """The default folder may be missing (a project without any); one that was set may not."""
    if value == default and not (root / value).exists():
        return value
    return _folder(value, key, default, root)


def _output_folder(value: str, key: str, default: Any, root: Path) -> str:
    """Made when first written to; what is there already must be a folder."""
    path = root / value
    if path.exists() and not path.is_dir():
        raise ConfigError(f"expected a folder, but {path} is not one", f"move it or set {key}")
    return value


# Database URL schemes as written → (the scheme used, the module of its driver, how to get it).
# SQLAlchemy's own default driver for postgresql:// is psycopg2; ours is psycopg 3.
POSTGRES = ("postgresql+psycopg", "psycopg", "pip install 'publisher[postgres]'")
SQLITE = ("sqlite", "sqlite3", "use a Python built with its sqlite3 module")
DATABASES = {
    "sqlite": SQLITE,
    "sqlite+pysqlite": SQLITE,
    "postgresql": POSTGRES,
    "postgres": POSTGRES,
    "postgresql+psycopg": POSTGRES,
}
SCHEME = re.compile(r"([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
DATABASE_HINT = (
    "postgresql+psycopg://user@host/db, sqlite:///path/to/file.db, "
    "or empty for SQLite under output.var_dir"
)


def _database(value: str, key: str, default: Any, root: Path) -> str:
    """A URL of a store and driver we support, whose driver is installed (looked up, not
    imported); ``postgresql://`` and ``postgres://`` mean psycopg 3."""
    if not value:
        return value
    match = SCHEME.match(value)
    if match is None:
        raise ConfigError("expected a database URL", DATABASE_HINT)
    scheme = match.group(1).lower()
    if scheme not in DATABASES:
        backend = scheme.split("+")[0]
        if backend in DATABASES:
            hint = f"write {DATABASES[backend][0]}://…"
            raise ConfigError(f"{scheme}:// is not a supported driver of {backend}", hint)
        raise ConfigError(f"{scheme}:// is not a supported database", f"use {DATABASE_HINT}")
    used, module, install = DATABASES[scheme]
    if find_spec(module) is None:
        raise ConfigError(f"the driver of {scheme}:// ({module}) is not installed", install)
    return f"{used}://{value[match.end() :]}"


def _address(value: str, key: str, default: Any, root: Path) -> str:
    from publisher.addresses import AddressError, normalise_address  # email-validator: lazily

    try:
        normalise_address(value)
    except AddressError as exc:
        raise ConfigError(str(exc), "e.g. digests@example.org") from exc
    return value


def parse_proxies(text: str) -> tuple[Network, ...]:
    """The networks of ``web.trusted_proxies``: addresses or CIDRs, comma-separated.

    :raises ValueError: naming the first item that is neither (a CIDR with host bits set, such
        as ``10.0.0.1/8``, is refused too: it is a typo of an address or of a network).
    """
    networks = []
    for item in text.split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip()))
            except ValueError as exc:
                raise ValueError(f"{item.strip()!r} is not an address or network: {exc}") from exc
    return tuple(networks)


def _proxies(value: str, key: str, default: Any, root: Path) -> str:
    try:
        networks = parse_proxies(value)
    except ValueError as exc:
        hint = "addresses or networks, e.g. 10.0.0.0/8, 192.0.2.7, ::1"
        raise ConfigError(str(exc), hint) from exc
    return ", ".join(str(network) for network in networks)


def _cron(value: str, key: str, default: Any, root: Path) -> str:
    try:
        cron.parse(value)
    except cron.CronError as exc:
        raise ConfigError(str(exc), cron.HINT) from exc
    return value


Check = Callable[[str, str, Any, Path], str]
FORMS: dict[str, tuple[str, Check]] = {
    "url": ("an http(s) URL", _url),
    "url_or_empty": ("empty or an http(s) URL", _url_or_empty),
    "zone": ("an IANA time zone", _zone),
    "folder": ("an existing folder", _folder),
    "optional_folder": ("a folder; only the default may be missing", _optional_folder),
    "output_folder": ("a folder, made when missing", _output_folder),
    "database": ("empty, or a sqlite:/// or postgresql:// URL", _database),
    "address": ("an email address", _address),
    "proxies": ("addresses or networks, comma-separated", _proxies),
    "cron": ("five-field cron", _cron),
    "color": ("a #rgb or #rrggbb colour", _color),
}
