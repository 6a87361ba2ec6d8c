"""Tables of the data context."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from modelward.store import UTCDateTime, metadata

__all__ = ["snapshots"]

snapshots = Table(
    "snapshots",
    metadata,
    # sha256(name, content_hash)[:20]: stable for the same content under the same name
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    # "sha256:<hex>" of the canonical Arrow IPC stream of the data plus its schema
    Column("content_hash", String(80), nullable=False),
    Column("schema", JSON, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("byte_size", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("source_kind", String(16), nullable=False),
    # relative to the workspace home; content-addressed, shared by equal content
    Column("storage_path", String(300), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("contract", JSON, nullable=True),
    Column("contract_hash", String(80), nullable=True),
    Column("validation", JSON, nullable=True),
    Column("validation_passed", Boolean, nullable=True),
    Column("override_reason", Text, nullable=True),
    UniqueConstraint("name", "version"),
    UniqueConstraint("name", "content_hash"),
    Index("ix_snapshots_content_hash", "content_hash"),
)
