"""Abuse limits: counters of the public writes, and what an expired pending reader was."""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the table and the column of schema revision 0006."""
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("pending_from", sa.String(20), nullable=True))
    op.create_table(
        "limits",
        sa.Column("scope", sa.String(20), primary_key=True),
        sa.Column("subject", sa.String(64), primary_key=True),
        sa.Column("until", UTCDateTime, nullable=False),
        sa.Column("hits", sa.Integer, nullable=False),
    )
    op.create_index("ix_limits_until", "limits", ["until"])


def downgrade() -> None:
    """Drop what :func:`upgrade` made."""
    op.drop_index("ix_limits_until", "limits")
    op.drop_table("limits")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("pending_from")
