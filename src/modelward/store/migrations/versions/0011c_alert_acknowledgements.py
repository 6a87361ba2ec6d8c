"""monitoring: who acknowledged a firing alert, when and why (no reminders meanwhile)

Revision ID: 0011c
Revises: 0011b
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from modelward.store.schema import UTCDateTime

revision = "0011c"
down_revision = "0011b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_states") as batch:
        batch.add_column(sa.Column("acknowledged_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("acknowledged_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("acknowledge_note", sa.String(2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_states") as batch:
        batch.drop_column("acknowledge_note")
        batch.drop_column("acknowledged_at")
        batch.drop_column("acknowledged_by")
