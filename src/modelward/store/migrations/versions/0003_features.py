"""features: registered feature views, materialization runs, statistics, model uses

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from modelward.store.schema import UTCDateTime

revision = "0003"
down_revision = "0001"
branch_labels = ("features",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_views",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("sources", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feature_views"),
        sa.UniqueConstraint("name", "version", name="uq_feature_views_name_version"),
        sa.UniqueConstraint(
            "name", "definition_hash", name="uq_feature_views_name_definition_hash"
        ),
    )
    op.create_table(
        "feature_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("view", sa.String(128), nullable=False),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("namespace", sa.String(160), nullable=False),
        sa.Column("online_store", sa.String(500), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=True),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("report", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_feature_runs"),
    )
    op.create_index("ix_feature_runs_view", "feature_runs", ["view"])
    op.create_table(
        "feature_stats",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("view", sa.String(128), nullable=False),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("stats", sa.JSON, nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_feature_stats"),
    )
    op.create_index("ix_feature_stats_view", "feature_stats", ["view"])
    op.create_table(
        "feature_uses",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("view", sa.String(128), nullable=False),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feature_uses"),
        sa.UniqueConstraint(
            "view",
            "definition_hash",
            "model",
            "model_version",
            name="uq_feature_uses_view_definition_hash_model_model_version",
        ),
    )
    op.create_index("ix_feature_uses_view", "feature_uses", ["view"])


def downgrade() -> None:
    op.drop_table("feature_uses")
    op.drop_table("feature_stats")
    op.drop_table("feature_runs")
    op.drop_table("feature_views")
