"""registry: operational evidence (load tests, reproduce verdicts, skew checks, bundles),
and a model's owner and on-call contact

Revision ID: 0002c
Revises: 0002b
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from modelward.store.schema import UTCDateTime

revision = "0002c"
down_revision = "0002b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("model_name", sa.String(128), nullable=True),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("endpoint", sa.String(128), nullable=True),
        sa.Column("passed", sa.Boolean, nullable=True),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_evidence_kind_subject", "evidence", ["kind", "subject", "id"])
    with op.batch_alter_table("registered_models") as batch:
        batch.add_column(sa.Column("owner", sa.String(200), nullable=True))
        batch.add_column(sa.Column("on_call", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registered_models") as batch:
        batch.drop_column("on_call")
        batch.drop_column("owner")
    op.drop_index("ix_evidence_kind_subject", "evidence")
    op.drop_table("evidence")
