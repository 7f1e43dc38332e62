"""Never silent: work a publish left to do, the export journal, stored problems, task health."""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tables of schema revision 0004, and index articles by content hash."""
    op.create_index("ix_articles_content_hash", "articles", ["content_hash"])
    op.create_table(
        "pending_build",
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("key", sa.String(1000), primary_key=True),
    )
    op.create_table("export_journal", sa.Column("path", sa.String(1000), primary_key=True))
    op.create_table(
        "problems",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("field", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("hint", sa.Text, nullable=False),
        sa.Column("noticed", UTCDateTime, nullable=False),
    )
    op.create_index("ix_problems_path", "problems", ["path"])
    op.create_table(
        "tasks",
        sa.Column("process", sa.String(200), primary_key=True),
        sa.Column("task", sa.String(100), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("changed", UTCDateTime, nullable=False),
        sa.Column("seen", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` made."""
    for table in ("tasks", "problems", "export_journal", "pending_build"):
        op.drop_table(table)
    op.drop_index("ix_articles_content_hash", "articles")
