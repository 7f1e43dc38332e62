"""Table definitions of the store, and the revision the code expects.

The migrations in ``publisher/migrations`` create these tables; ``test_store`` checks that a
migrated database matches this metadata, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

SCHEMA_REVISION = "0009"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which drops zones) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; attach a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(500), nullable=False, unique=True),
    Column("slug", String(200), nullable=False, unique=True),
    Column("path", String(1000), nullable=True, unique=True),
    Column("content_hash", String(64), nullable=False, index=True),  # finds renames
    Column("title", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("published", UTCDateTime, nullable=False, index=True),
    Column("updated", UTCDateTime, nullable=False),
    Column("present", Boolean, nullable=False, index=True),
    Column("data", Text, nullable=False),
    Column("summary", Text, nullable=False, server_default=""),  # listings show it, not the body
)

article_tags = Table(
    "article_tags",
    metadata,
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(200), primary_key=True, index=True),
)

files = Table(
    "files",
    metadata,
    Column("path", String(1000), primary_key=True),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("problems", Text, nullable=False),
)

outputs = Table(
    "outputs",
    metadata,
    Column("path", String(1000), primary_key=True),
    Column("media_type", String(100), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("updated", UTCDateTime, nullable=False),
    Column("body", LargeBinary, nullable=False),
)

# -- what a publish left to do, and what it found wrong ----------------------------------------

# Work a publish committed but has not built yet (kind: article, gone, tag or year), so a crash
# between storing an article and writing its pages is finished by the next publish.
pending_build = Table(
    "pending_build",
    metadata,
    Column("kind", String(20), primary_key=True),
    Column("key", String(1000), primary_key=True),
)

# Paths under public/ about to be written or removed: after a crash, the next publish makes
# each of them agree with the outputs table again.
export_journal = Table(
    "export_journal",
    metadata,
    Column("path", String(1000), primary_key=True),
)

# The content problems the last publish found, for the status of any process sharing the store.
problems = Table(
    "problems",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("path", String(1000), nullable=False, index=True),
    Column("severity", String(10), nullable=False),
    Column("field", String(100), nullable=False),
    Column("reason", Text, nullable=False),
    Column("hint", Text, nullable=False),
    Column("noticed", UTCDateTime, nullable=False),
)

# The supervised tasks of every service process: their health, for /healthz and the status.
tasks = Table(
    "tasks",
    metadata,
    Column("process", String(200), primary_key=True),
    Column("task", String(100), primary_key=True),
    Column("state", String(20), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("changed", UTCDateTime, nullable=False),
    Column("seen", UTCDateTime, nullable=False),
)

# -- mail: subscribers, what each digest carried, issues and their deliveries (the outbox) -----

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("address", String(254), nullable=False),
    Column("address_key", String(254), nullable=False, unique=True),  # lowercased: one per inbox
    Column("status", String(20), nullable=False, index=True),
    Column("secret", String(64), nullable=False),
    Column("bounces", Integer, nullable=False, default=0),
    Column("confirm_sent", UTCDateTime, nullable=True),  # the last confirmation mail
    # What made the reader bounced: the issue whose delivery was the last straw, and when, so an
    # operator can reactivate the readers a bad issue or a bad hour bounced.
    Column("bounced_issue", Integer, nullable=True),
    Column("bounced_at", UTCDateTime, nullable=True),
    # What a pending reader was before asking (``unsubscribed``), and is again when the request
    # expires unconfirmed; empty for a new address, which is deleted instead.
    Column("pending_from", String(20), nullable=True),
    Column("created", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("digest", String(100), primary_key=True, index=True),
)

issues = Table(
    "issues",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(100), nullable=False),
    Column("slot", String(40), nullable=False),
    Column("opened", UTCDateTime, nullable=False),
    Column("nonce", String(32), nullable=False),  # makes the placeholders unguessable
    Column("subject", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("recipients", Integer, nullable=False),
    # The public copy of the HTML part, published in the archive of issues ("": none).
    Column("page", Text, nullable=False, server_default=""),
    UniqueConstraint("digest", "slot", name="uq_issues_digest_slot"),
)

# The ledger: what each digest has carried, so the next issue holds exactly what is new.
# ``issue_id`` is empty for the back catalogue a new digest starts after.
carried = Table(
    "carried",
    metadata,
    Column("digest", String(100), primary_key=True),
    Column("article_uid", String(500), primary_key=True),
    Column("issue_id", Integer, ForeignKey("issues.id", ondelete="CASCADE"), nullable=True),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("issue_id", Integer, ForeignKey("issues.id", ondelete="CASCADE"), nullable=False),
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("last_reply", Text, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
    # Committed just before the message goes to the relay, cleared with its outcome: a sending
    # row whose lease ran out with this set was perhaps delivered by a sender that died.
    Column("in_flight", Boolean, nullable=False, default=False),
    # Outcomes nobody knows (no reply after the final dot, a sender that died while sending):
    # how many copies may already be out, bounded by smtp.resend_possibly_delivered.
    Column("uncertain", Integer, nullable=False, default=0),
    UniqueConstraint("issue_id", "subscriber_id", name="uq_deliveries_issue_subscriber"),
)
Index("ix_deliveries_state_next", deliveries.c.state, deliveries.c.next_attempt)
# Every publish reads each present article's date (the archive's years) and each output's hash:
# answered from these indexes alone, without reading rows of 10 KB and more (migration 0007).
Index("ix_articles_present_published", articles.c.present, articles.c.published)
Index("ix_outputs_path_sha256", outputs.c.path, outputs.c.sha256)

# The relays' state, shared by every sender: when one cannot be reached or refuses the sender,
# the whole outbox waits for it (probed with a backoff) instead of each message failing alone.
relays = Table(
    "relays",
    metadata,
    Column("relay", String(300), primary_key=True),  # the transport's description
    Column("state", String(20), nullable=False),  # up, down, refusing
    Column("since", UTCDateTime, nullable=False),
    Column("reply", Text, nullable=False),
    Column("probe_at", UTCDateTime, nullable=True),
    Column("probes", Integer, nullable=False),
)

# The abuse limits of the public writes (publisher/store/limits.py), shared by every web
# process: one fixed-window counter per scope (client, mailbox, site) and subject (a SHA-256,
# so no address
# is kept here in the clear). A row whose window has ended counts from 1 again, or is purged.
limits = Table(
    "limits",
    metadata,
    Column("scope", String(20), primary_key=True),
    Column("subject", String(64), primary_key=True),
    Column("until", UTCDateTime, nullable=False, index=True),  # the end of the counted window
    Column("hits", Integer, nullable=False),
)
