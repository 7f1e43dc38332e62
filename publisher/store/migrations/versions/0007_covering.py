"""Covering indexes for what every publish asks of the whole store.

The archive's years read each present article's date, and an export the hash of each output:
rows of 10 KB and more (an article's JSON, an output's bytes) put one row on its own pages, so
a scan of the table read every page of it. These indexes answer both from the index alone.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the indexes of schema revision 0007."""
    op.create_index("ix_articles_present_published", "articles", ["present", "published"])
    op.create_index("ix_outputs_path_sha256", "outputs", ["path", "sha256"])


def downgrade() -> None:
    """Drop what :func:`upgrade` made."""
    op.drop_index("ix_outputs_path_sha256", "outputs")
    op.drop_index("ix_articles_present_published", "articles")
