"""Tables of the registry context: models, versions, training runs, transitions, approvals."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from modelward.store import UTCDateTime, metadata

__all__ = [
    "approvals",
    "evidence",
    "model_versions",
    "registered_models",
    "registry_divergences",
    "stage_transitions",
    "training_runs",
]

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(128), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("description", Text, nullable=True),
    Column("production_version", Integer, nullable=True),
    # the version that was Production before the current one: the rollback target
    Column("previous_production_version", Integer, nullable=True),
    # bumped by every transition; a transition writes only if it still sees the value it
    # read, so two racing transitions cannot both succeed (compare-and-swap)
    Column("revision", Integer, nullable=False),
    # {"Staging": 0, "Production": 1}: approvals needed per target stage
    Column("approval_policy", JSON, nullable=False),
    # {"Production": [{"type": "lineage_complete"}, ...]}: gates per target stage
    Column("gate_policy", JSON, nullable=False),
    # who answers for the model, and who is paged for it (the readiness report's owner)
    Column("owner", String(200), nullable=True),
    Column("on_call", String(200), nullable=True),
    PrimaryKeyConstraint("name"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("model_name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("stage", String(16), nullable=False),
    # "modelward" (mw.register) or "mlflow" (registered by plain MLflow code, discovered)
    Column("source", String(16), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("model_uri", Text, nullable=False),
    Column("lineage", JSON, nullable=False),
    Column("lineage_complete", Boolean, nullable=False),
    Column("lineage_missing", JSON, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("stage_changed_at", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("model_name", "version"),
    ForeignKeyConstraint(["model_name"], ["registered_models.name"]),
    # at most one Production version per model, enforced by the database as well
    Index(
        "ix_model_versions_one_production",
        "model_name",
        unique=True,
        sqlite_where=text("stage = 'Production'"),
        postgresql_where=text("stage = 'Production'"),
    ),
)

training_runs = Table(
    "training_runs",
    metadata,
    Column("run_id", String(64), nullable=False),
    Column("experiment_id", String(64), nullable=False),
    Column("name", String(250), nullable=True),
    Column("author", String(200), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=False),
    Column("lineage", JSON, nullable=False),
    PrimaryKeyConstraint("run_id"),
)

stage_transitions = Table(
    "stage_transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("from_stage", String(16), nullable=False),
    Column("to_stage", String(16), nullable=False),
    # "promote", "rollback" or "demote" (the previous Production version archived)
    Column("kind", String(16), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("reason", Text, nullable=False),
    Column("gate_results", JSON, nullable=False),
    Column("approvals", JSON, nullable=False),
    Column("override_reason", Text, nullable=True),
    ForeignKeyConstraint(
        ["model_name", "version"], ["model_versions.model_name", "model_versions.version"]
    ),
    Index("ix_stage_transitions_model_name", "model_name", "version"),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("approver", String(200), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("comment", Text, nullable=False),
    ForeignKeyConstraint(
        ["model_name", "version"], ["model_versions.model_name", "model_versions.version"]
    ),
    UniqueConstraint("model_name", "version", "stage", "approver"),
)

#: divergences from MLflow noticed and not yet gone (registry.divergences): a divergence is
#: alerted once, when its row is inserted, not on every look
registry_divergences = Table(
    "registry_divergences",
    metadata,
    Column("key", String(400), nullable=False),
    Column("model_name", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("noticed_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("key"),
)

#: operational evidence about a version, a feature view or an endpoint (registry.evidence):
#: load tests, reproduce verdicts, skew checks, deployable bundles. Append-only; readers
#: take the latest row of a kind for a subject.
evidence = Table(
    "evidence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # "load_test", "reproduce", "skew_check", "bundle"
    Column("kind", String(32), nullable=False),
    # what it is about: "churn@3" for a version, "view:customer_stats" for a feature view
    Column("subject", String(200), nullable=False),
    Column("model_name", String(128), nullable=True),
    Column("version", Integer, nullable=True),
    Column("endpoint", String(128), nullable=True),
    # the evidence's own verdict (a load test within its budget, a skew check passed)
    Column("passed", Boolean, nullable=True),
    Column("summary", Text, nullable=False),
    Column("detail", JSON, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Index("ix_evidence_kind_subject", "kind", "subject", "id"),
)
