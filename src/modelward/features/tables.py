"""Tables of the features context: registered definitions, materialization runs, statistics,
and which model versions were trained on which view versions."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from modelward.store import UTCDateTime, metadata

__all__ = ["feature_runs", "feature_stats", "feature_uses", "feature_views"]

# One row per registered version of a view; a version is its definition hash.
feature_views = Table(
    "feature_views",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("definition_hash", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("owner", String(200), nullable=False),
    # the full definition as written by FeatureView.to_dict(), for show and plan diffs
    Column("definition", JSON, nullable=False),
    # labels of the sources feeding the view (and input views of on-demand ones)
    Column("sources", JSON, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("name", "version"),
    UniqueConstraint("name", "definition_hash"),
)

# One row per materialization run; the watermark of (view layout, store) is the greatest
# end of its succeeded incremental or backfill runs.
feature_runs = Table(
    "feature_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("view", String(128), nullable=False),
    Column("definition_hash", String(64), nullable=False),
    Column("namespace", String(160), nullable=False),
    Column("online_store", String(500), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("start", UTCDateTime(), nullable=True),
    Column("end", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("duration_s", Float, nullable=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("created_by", String(200), nullable=False),
    Column("report", JSON, nullable=True),
    Index("ix_feature_runs_view", "view"),
)

# Health statistics per view, from a materialization run or computed on demand.
feature_stats = Table(
    "feature_stats",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("view", String(128), nullable=False),
    Column("definition_hash", String(64), nullable=False),
    Column("run_id", String(32), nullable=True),
    Column("computed_at", UTCDateTime(), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("stats", JSON, nullable=False),
    Column("note", Text, nullable=True),
    Index("ix_feature_stats_view", "view"),
)

# Which model versions were trained on which view versions (filled at registration).
feature_uses = Table(
    "feature_uses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("view", String(128), nullable=False),
    Column("definition_hash", String(64), nullable=False),
    Column("model", String(200), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    UniqueConstraint("view", "definition_hash", "model", "model_version"),
    Index("ix_feature_uses_view", "view"),
)
