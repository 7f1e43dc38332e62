"""Double opt-in: when a subscriber's last confirmation mail went out."""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add subscribers.confirm_sent."""
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("confirm_sent", UTCDateTime, nullable=True))


def downgrade() -> None:
    """Drop subscribers.confirm_sent."""
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("confirm_sent")
