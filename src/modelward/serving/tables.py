"""Tables of the serving context: endpoint definitions with a version bumped on every change."""

from sqlalchemy import JSON, Column, Integer, PrimaryKeyConstraint, String, Table

from modelward.store import UTCDateTime, metadata

__all__ = ["endpoints"]

endpoints = Table(
    "endpoints",
    metadata,
    Column("name", String(128), nullable=False),
    # the validated EndpointSpec as JSON
    Column("spec", JSON, nullable=False),
    # bumped by every change; gateways poll it and reload only what changed
    Column("config_version", Integer, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("name"),
)
