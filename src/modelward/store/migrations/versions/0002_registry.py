"""registry: registered models, versions with lineage, training runs, transitions, approvals

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from modelward.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = ("registry",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("production_version", sa.Integer, nullable=True),
        sa.Column("previous_production_version", sa.Integer, nullable=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("approval_policy", sa.JSON, nullable=False),
        sa.Column("gate_policy", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_registered_models"),
    )
    op.create_table(
        "model_versions",
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("model_uri", sa.Text, nullable=False),
        sa.Column("lineage", sa.JSON, nullable=False),
        sa.Column("lineage_complete", sa.Boolean, nullable=False),
        sa.Column("lineage_missing", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("stage_changed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("model_name", "version", name="pk_model_versions"),
        sa.ForeignKeyConstraint(
            ["model_name"],
            ["registered_models.name"],
            name="fk_model_versions_model_name_registered_models",
        ),
    )
    op.create_index(
        "ix_model_versions_one_production",
        "model_versions",
        ["model_name"],
        unique=True,
        sqlite_where=sa.text("stage = 'Production'"),
        postgresql_where=sa.text("stage = 'Production'"),
    )
    op.create_table(
        "training_runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("experiment_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(250), nullable=True),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=False),
        sa.Column("lineage", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_training_runs"),
    )
    op.create_table(
        "stage_transitions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("from_stage", sa.String(16), nullable=False),
        sa.Column("to_stage", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("gate_results", sa.JSON, nullable=False),
        sa.Column("approvals", sa.JSON, nullable=False),
        sa.Column("override_reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_stage_transitions"),
        sa.ForeignKeyConstraint(
            ["model_name", "version"],
            ["model_versions.model_name", "model_versions.version"],
            name="fk_stage_transitions_model_name_model_versions",
        ),
    )
    op.create_index(
        "ix_stage_transitions_model_name", "stage_transitions", ["model_name", "version"]
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("approver", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
        sa.ForeignKeyConstraint(
            ["model_name", "version"],
            ["model_versions.model_name", "model_versions.version"],
            name="fk_approvals_model_name_model_versions",
        ),
        sa.UniqueConstraint(
            "model_name",
            "version",
            "stage",
            "approver",
            name="uq_approvals_model_name_version_stage_approver",
        ),
    )


def downgrade() -> None:
    op.drop_table("approvals")
    op.drop_index("ix_stage_transitions_model_name", table_name="stage_transitions")
    op.drop_table("stage_transitions")
    op.drop_table("training_runs")
    op.drop_index("ix_model_versions_one_production", table_name="model_versions")
    op.drop_table("model_versions")
    op.drop_table("registered_models")
