"""Listing summaries: listing pages show each article's summary, stored in a column of its
own, so a listing reads no article body."""

import json

import sqlalchemy as sa
from alembic import op

from publisher.models import Article
from publisher.text import summary_of

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column of schema revision 0008 with the summary of every stored article."""
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("summary", sa.Text, nullable=False, server_default=""))
    table = sa.table("articles", sa.column("id"), sa.column("data"), sa.column("summary"))
    conn = op.get_bind()
    for row in conn.execute(sa.select(table.c.id, table.c.data)).all():
        summary = summary_of(Article.from_json(json.loads(row.data)))
        conn.execute(table.update().where(table.c.id == row.id).values(summary=summary))


def downgrade() -> None:
    """Drop what :func:`upgrade` made."""
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("summary")
