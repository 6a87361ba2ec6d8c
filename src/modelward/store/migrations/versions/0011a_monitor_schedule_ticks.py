"""monitoring: a scheduled monitor run records its tick, once per endpoint

Revision ID: 0011a
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from modelward.store.schema import UTCDateTime

revision = "0011a"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("monitor_runs") as batch:
        # NULL for runs started by hand; the unique index lets one run per (endpoint, tick)
        # commit however many schedulers try (NULLs never collide)
        batch.add_column(sa.Column("tick", UTCDateTime(), nullable=True))
        batch.create_index("ux_monitor_runs_tick", ["endpoint", "tick"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("monitor_runs") as batch:
        batch.drop_index("ux_monitor_runs_tick")
        batch.drop_column("tick")
