"""Issue pages: every issue keeps the public copy of its HTML part (no reader's links in it),
which the site publishes as the issue's page in the archive of issues. Issues opened before
this revision have none and stay out of the archive."""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column of schema revision 0009."""
    with op.batch_alter_table("issues") as batch:
        batch.add_column(sa.Column("page", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    """Drop what :func:`upgrade` made."""
    with op.batch_alter_table("issues") as batch:
        batch.drop_column("page")
