"""Delivery faults: messages in flight, uncertain outcomes, what bounced a reader, relay state."""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the columns and the table of schema revision 0005."""
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(
            sa.Column("in_flight", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("uncertain", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("bounced_issue", sa.Integer, nullable=True))
        batch.add_column(sa.Column("bounced_at", UTCDateTime, nullable=True))
    op.create_table(
        "relays",
        sa.Column("relay", sa.String(300), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("since", UTCDateTime, nullable=False),
        sa.Column("reply", sa.Text, nullable=False),
        sa.Column("probe_at", UTCDateTime, nullable=True),
        sa.Column("probes", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` made."""
    op.drop_table("relays")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("bounced_at")
        batch.drop_column("bounced_issue")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("uncertain")
        batch.drop_column("in_flight")
