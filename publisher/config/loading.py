"""Loading the settings: embedded defaults → ``config/publisher.toml`` → environment, each value
coerced to its declared type and checked against what its declaration allows.

Every command loads the settings first, so a wrong value is one line naming the key, the value
and where it came from, before anything runs, instead of a traceback or a spinning loop later.
The declarations of :mod:`publisher.config.settings` are walked here as a flat list of keys
(:func:`describe`), the same list ``publisher config`` and the README's configuration reference
are made from, so what is loaded, checked and documented cannot drift apart. The environment is
passed in as a mapping so tests never touch ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from publisher.config.forms import FORMS
from publisher.config.settings import SECRETS, DigestSettings, Settings, SmtpSettings
from publisher.errors import ConfigError

CONFIG_FILE = Path("config") / "publisher.toml"
ENV_PREFIX = "PUBLISHER_"
DIGESTS = "digests"
DIGEST_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
DEFAULT = "default"  # where a value came from when neither the file nor the environment set it
PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*@")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class SettingInfo:
    """One declared setting, for the loader, ``publisher config`` and the docs."""

    key: str
    default: Any
    env: tuple[str, ...]
    help: str
    type: type
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    form: str = ""

    @property
    def allowed(self) -> str:
        """The values allowed, in words: ``1 to 10,000``, ``empty, DEBUG, INFO``, a form's."""
        if self.low is not None and self.high is not None:
            return f"{self.low:,} to {self.high:,}"
        if self.choices:
            return ", ".join(choice or "empty" for choice in self.choices)
        if self.form:
            return FORMS[self.form][0]
        return "true or false" if self.type is bool else "text"


def _info(key: str, f: dataclasses.Field[Any], env: tuple[str, ...]) -> SettingInfo:
    rules = {name: f.metadata[name] for name in ("low", "high", "choices", "form")}
    return SettingInfo(key, f.default, env, f.metadata["help"], type(f.default), **rules)


def _sections() -> Iterator[tuple[str, type]]:
    """The ``[section]`` tables: every field of :class:`Settings` but the root and the digests."""
    for section in dataclasses.fields(Settings):
        if section.name not in ("root", DIGESTS):
            yield section.name, type(section.default)


def describe() -> list[SettingInfo]:
    """Every setting with its default, environment variables, help and allowed values."""
    infos = []
    for name, cls in _sections():
        for f in dataclasses.fields(cls):
            env: tuple[str, ...] = (f"{ENV_PREFIX}{name.upper()}__{f.name.upper()}",)
            if f.metadata.get("env"):
                env = (str(f.metadata["env"]), *env)
            infos.append(_info(f"{name}.{f.name}", f, env))
    return infos


def describe_digest() -> list[SettingInfo]:
    """The keys of one ``[[digests]]`` table (no environment variables)."""
    return [_info(f"{DIGESTS}[].{f.name}", f, ()) for f in dataclasses.fields(DigestSettings)]


# -- one value -------------------------------------------------------------------------------


def _checked(info: SettingInfo, value: Any, where: str, root: Path) -> Any:
    """``value`` if the declaration allows it (choices in their declared case).

    :raises ConfigError: naming the key, the value (without a URL's password) and ``where``.
    """
    shown = PASSWORD.sub(r"\1***@", value) if isinstance(value, str) else value
    try:
        if info.low is not None and info.high is not None and not info.low <= value <= info.high:
            raise ConfigError(f"expected {info.allowed}", f"the default is {info.default!r}")
        if info.choices:
            for choice in info.choices:
                if value.casefold() == choice.casefold():
                    return choice
            raise ConfigError(f"expected one of {info.allowed}", f"the default is {info.default!r}")
        return FORMS[info.form][1](value, info.key, info.default, root) if info.form else value
    except ConfigError as exc:
        raise ConfigError(f"{info.key}: {exc}, got {shown!r} ({where})", exc.hint) from exc


def _coerce(key: str, value: Any, kind: type, where: str) -> Any:
    """Check or convert one value to the setting's type; errors name key, value and source."""
    if kind is bool and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
    elif isinstance(value, str) and kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    elif kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is not bool and isinstance(value, bool)):
        return value
    raise ConfigError(
        f"{key}: expected {kind.__name__}, got {value!r} ({where})",
        hint="in TOML, write numbers and true/false without quotes",
    )


# -- the file and the environment ------------------------------------------------------------


class _Given(NamedTuple):
    """A value the file or the environment set, and where, for the message if it is wrong."""

    value: Any
    where: str


def _read_file(path: Path) -> dict[str, Any]:
    """The file's tables, or none when there is no file."""
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        reason = f"line {line} has byte {exc.object[exc.start]:#x}"
        hint = "save it as UTF-8 (TOML files are UTF-8)"
        raise ConfigError(f"{path}: not UTF-8 text ({reason})", hint) from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc


def _read_digests(raw: Any, path: Path, root: Path) -> tuple[DigestSettings, ...]:
    """``[[digests]]`` tables, each checked like a section; names must be unique."""
    if not isinstance(raw, list) or not all(isinstance(table, dict) for table in raw):
        raise ConfigError(f"{DIGESTS}: expected [[{DIGESTS}]] tables in {path}")
    infos = {info.key.split(".")[-1]: info for info in describe_digest()}
    digests: list[DigestSettings] = []
    for number, table in enumerate(raw, 1):
        where = f"{DIGESTS}.{table.get('name') or f'#{number}'}"
        values = {}
        for key, value in table.items():
            if key not in infos:
                raise ConfigError(
                    f"{where}.{key}: unknown setting", hint=f"known: {', '.join(infos)}"
                )
            values[key] = _coerce(f"{where}.{key}", value, infos[key].type, str(path))
        for key, info in infos.items():
            named = dataclasses.replace(info, key=f"{where}.{key}")
            values[key] = _checked(named, values.get(key, info.default), str(path), root)
        digest = DigestSettings(**values)
        if not DIGEST_NAME.match(digest.name) or digest.name in {d.name for d in digests}:
            hint = 'a unique name of lowercase letters, digits and -, e.g. name = "daily"'
            raise ConfigError(
                f"{where}.name: {digest.name!r} is missing, malformed or repeated ({path})", hint
            )
        digests.append(digest)
    return tuple(digests)


def _from_file(data: dict[str, Any], path: Path, infos: list[SettingInfo]) -> dict[str, _Given]:
    """The ``[section]`` values of the file, by key, each coerced to its type.

    :raises ConfigError: for an unknown section or key, a secret written in the file, or a value
        of the wrong type.
    """
    known = dict(_sections())
    for section in data:
        if section not in known:
            raise ConfigError(
                f"[{section}]: unknown section in {path}", hint=f"known: {', '.join(known)}"
            )
    by_key = {info.key: info for info in infos}
    given: dict[str, _Given] = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{name}: expected a [{name}] table in {path}")
        for key, value in table.items():
            info = by_key.get(f"{name}.{key}")
            if info is not None and info.key in SECRETS:
                raise ConfigError(
                    f"{info.key}: secrets are read from the environment only, not {path}",
                    hint=f"remove it from the file and set {' or '.join(info.env)}",
                )
            if info is None:
                raise ConfigError(
                    f"{name}.{key}: unknown setting in {path}",
                    hint="`publisher config` lists them",
                )
            given[info.key] = _Given(_coerce(info.key, value, info.type, str(path)), str(path))
    return given


def _from_environment(environ: Mapping[str, str], infos: list[SettingInfo]) -> dict[str, _Given]:
    """The values the environment sets, by key: the first of a setting's variables that is set."""
    given: dict[str, _Given] = {}
    for info in infos:
        variable = next((name for name in info.env if name in environ), None)
        if variable is not None:
            where = f"environment {variable}"
            given[info.key] = _Given(_coerce(info.key, environ[variable], info.type, where), where)
    return given


def _checked_values(
    given: Mapping[str, _Given], root: Path, infos: list[SettingInfo]
) -> dict[str, Any]:
    """Every setting's value, given or default, checked against its declaration: a default is
    checked too, since the folder it names may be missing under this root."""
    values: dict[str, Any] = {}
    for info in infos:
        item = given.get(info.key, _Given(info.default, DEFAULT))
        values[info.key] = _checked(info, item.value, item.where, root)
    if not values["site.base_url"].endswith("/"):
        values["site.base_url"] += "/"  # every link is written as base_url + path
    return values


def _built_sections(values: Mapping[str, Any]) -> dict[str, Any]:
    """One frozen section per ``[section]``, from the ``section.field`` keys of ``values``."""
    sections = dict(_sections())
    fields: dict[str, dict[str, Any]] = {name: {} for name in sections}
    for key, value in values.items():
        section, name = key.split(".")
        fields[section][name] = value
    return {name: cls(**fields[name]) for name, cls in sections.items()}


def load_settings(root: Path, environ: Mapping[str, str]) -> Settings:
    """Read ``root/config/publisher.toml`` then the environment over the embedded defaults, and
    check every value, the defaults included.

    :raises ConfigError: for an unknown section or key, a wrong type or a value not allowed,
        naming the key, the value and the file or environment variable it came from.
    """
    path = root / CONFIG_FILE
    data = _read_file(path)
    digests = _read_digests(data.pop(DIGESTS, []), path, root)
    infos = describe()
    given = {**_from_file(data, path, infos), **_from_environment(environ, infos)}
    values = _checked_values(given, root, infos)
    settings = Settings(root=root, digests=digests, **_built_sections(values))
    settings = _with_local_token(settings)
    _check_relay(settings.smtp, given.get("smtp.security", _Given(None, DEFAULT)).where)
    return settings


def _with_local_token(settings: Settings) -> Settings:
    """With no admin token in the environment, the one ``publisher signin`` made for this
    machine under ``var/`` (never in ``config/``, which is shared and may be committed)."""
    if settings.web.admin_token:
        return settings
    try:
        made = settings.local_token_path.read_text(encoding="utf-8").strip()
    except OSError:  # none made (or unreadable): no admin token, the API stays closed
        return settings
    return replace(settings, web=replace(settings.web, admin_token=made)) if made else settings


def _check_relay(smtp: SmtpSettings, where: str) -> None:
    """Mail leaves this machine only over TLS."""
    if smtp.host and smtp.security == "plain" and smtp.host not in LOOPBACK:
        raise ConfigError(
            f"smtp.security: plain text to {smtp.host} ({where}) would expose mail and the login",
            hint="use starttls or tls; plain is allowed only for a relay on 127.0.0.1",
        )
