"""The error tree. Domain code raises; only :mod:`publisher.cli` turns these into messages and exit
codes.

::

    PublisherError            anything the operator can act on; carries a ``hint``
    ├── ConfigError           a setting is missing or malformed: fix config/ or the environment
    ├── ContentError          one content file cannot be published: fix that file, the rest goes on
    ├── RenderError           a template failed: fix templates/
    ├── FidelityError         an output lost an article's attribution or disclaimer: not written
    ├── StoreError            the database is gone, locked too long or out of room: fix the
    │                         environment; nothing was half-written
    └── DeliveryError         a message was not accepted (mail.replies): the relay's reply,
                              and its verdict — retry, the reader's mailbox, the relay's fault
"""

from __future__ import annotations


class PublisherError(Exception):
    """Base of every error the operator can act on; ``hint`` says what to do next."""

    hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return str(self.args[0])


class ConfigError(PublisherError):
    """A setting has a wrong type or value."""

    hint = "check config/publisher.toml and the PUBLISHER_* environment variables"


class NotFound(PublisherError):
    """A request names an issue or a subscriber that does not exist."""

    hint = "check the number or address; the console and `publisher outbox` list what there is"


class ContentError(PublisherError):
    """One content file cannot be read or classified; the rest of the batch is still published."""

    hint = "fix the file; `publisher check` lists every problem"

    def __init__(self, path: str, reason: str, hint: str | None = None) -> None:
        super().__init__(f"{path}: {reason}", hint)
        self.path = path
        self.reason = reason


class RenderError(PublisherError):
    """A template could not be rendered."""

    hint = "check the templates in templates/ (a project's own override the theme's)"


class FidelityError(PublisherError):
    """An output lacks an article's attribution or disclaimer verbatim; it is not written."""

    hint = "a template or the sanitiser dropped text; the output was not published"

    def __init__(self, article: str, output: str, missing: str) -> None:
        super().__init__(f"{output}: lost the {missing} of article {article!r}")
        self.article = article
        self.output = output
        self.missing = missing


class StoreError(PublisherError):
    """The store could not be reached or could not write (server gone, disk full, locked)."""

    hint = "check that the database (DATABASE_URL, or var/ for SQLite) is reachable and has room"
