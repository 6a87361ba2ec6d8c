"""Tables of the security context."""

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, Table, Text

from modelward.store.schema import UTCDateTime, metadata

__all__ = ["audit_log"]

# Append-only: every row's hash covers its content and the previous row's hash, so an
# edited, deleted, inserted or reordered row breaks the chain at that row.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(500), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("note", Text, nullable=True),
    Index("ix_audit_log_target", "target"),
    Index("ix_audit_log_action", "action"),
)
