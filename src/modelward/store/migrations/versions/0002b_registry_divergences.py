"""registry: divergences from MLflow noticed and not yet gone

Revision ID: 0002b
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from modelward.store.schema import UTCDateTime

revision = "0002b"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_divergences",
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("noticed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("registry_divergences")
