"""serving: the embedded queue of asynchronous jobs

Revision ID: 0005a
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005a"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "serving_jobs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("callback_url", sa.String(2000), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_token", sa.String(64), nullable=True),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("available_at", sa.Float, nullable=False),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("callback_state", sa.String(400), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_serving_jobs"),
        sa.UniqueConstraint("endpoint", "idempotency_key", name="uq_serving_jobs_idempotency"),
    )
    op.create_index("ix_serving_jobs_ready", "serving_jobs", ["endpoint", "status", "available_at"])


def downgrade() -> None:
    op.drop_index("ix_serving_jobs_ready", table_name="serving_jobs")
    op.drop_table("serving_jobs")
