"""Tables of the monitoring context: reference profiles, delayed labels, monitor runs.

The prediction log itself is not here: it lives in its sink (a SQLite file of its own or
Redis Streams), since it is high-volume and prunable while these rows are few and kept.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
)

from modelward.store import UTCDateTime, metadata

__all__ = [
    "alert_states",
    "kpi_events",
    "labels",
    "monitor_runs",
    "reference_profiles",
    "worker_usage",
]

reference_profiles = Table(
    "reference_profiles",
    metadata,
    Column("model_name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    # ReferenceProfile.to_dict(): a few kilobytes per feature, whatever the training size
    Column("profile", JSON, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("model_name", "version"),
)

labels = Table(
    "labels",
    metadata,
    Column("endpoint", String(128), nullable=False),
    Column("request_id", String(200), nullable=False),
    # the ground truth as sent (a number or a class name)
    Column("value", JSON, nullable=False),
    # when the truth became known (the label delay is this minus the prediction's time)
    Column("labelled_at", UTCDateTime(), nullable=False),
    Column("ingested_by", String(200), nullable=False),
    Column("ingested_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("endpoint", "request_id"),
)

monitor_runs = Table(
    "monitor_runs",
    metadata,
    Column("id", String(32), nullable=False),
    Column("endpoint", String(128), nullable=False),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("window_end", UTCDateTime(), nullable=False),
    Column("rows", Integer, nullable=False),
    # the whole MonitorResult.to_dict(): drift and quality per version, performance
    Column("result", JSON, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # the schedule's tick for a scheduled run (NULL by hand): one run per endpoint and tick
    Column("tick", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("id"),
    Index("ix_monitor_runs_endpoint", "endpoint", "created_at"),
    Index("ux_monitor_runs_tick", "endpoint", "tick", unique=True),
)

alert_states = Table(
    "alert_states",
    metadata,
    Column("endpoint", String(128), nullable=False),
    # "<rule kind>:<version>", e.g. "model_drift:3"
    Column("key", String(200), nullable=False),
    # "firing" or "resolved"
    Column("state", String(16), nullable=False),
    Column("fired_at", UTCDateTime(), nullable=False),
    # the last notification (firing, a reminder after the cooldown, or resolved)
    Column("last_sent_at", UTCDateTime(), nullable=False),
    Column("message", String(2000), nullable=False),
    # set while someone is on it (no reminder is sent); cleared when it resolves
    Column("acknowledged_by", String(200), nullable=True),
    Column("acknowledged_at", UTCDateTime(), nullable=True),
    Column("acknowledge_note", String(2000), nullable=True),
    PrimaryKeyConstraint("endpoint", "key"),
)

kpi_events = Table(
    "kpi_events",
    metadata,
    Column("endpoint", String(128), nullable=False),
    # the KPI's name ("conversion"); its good direction is declared in [monitoring] kpis
    Column("name", String(128), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("value", Float, nullable=False),
    Column("ingested_by", String(200), nullable=False),
    Column("ingested_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("endpoint", "name", "at"),
)

#: one row per gateway worker and sampling interval (``monitoring.usage``): the CPU and
#: memory figures of a monitor run and its cost per 1,000 predictions
worker_usage = Table(
    "worker_usage",
    metadata,
    # host, process id and start: a restarted worker is a new one
    Column("worker", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    # seconds since the worker's previous sample (or its start)
    Column("interval_s", Float, nullable=False),
    # CPU seconds the process used in the interval, every thread
    Column("cpu_s", Float, nullable=False),
    Column("rss_bytes", BigInteger, nullable=False),
    # prediction log records the worker wrote in the interval
    Column("predictions", Integer, nullable=False),
    PrimaryKeyConstraint("worker", "at"),
    Index("ix_worker_usage_at", "at"),
)
