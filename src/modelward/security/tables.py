"""Tables of the security context."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from modelward.store import UTCDateTime, metadata

__all__ = ["api_tokens", "audit_log", "identities"]

# Append-only: every row's hash covers its content and the previous row's hash, so an
# edited, deleted, inserted or reordered row breaks the chain at that row.
audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
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

# People and service accounts. ``role`` is one of viewer, developer, approver, operator, admin.
identities = Table(
    "identities",
    metadata,
    Column("id", String(32), nullable=False),
    Column("name", String(128), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("disabled_at", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("id"),
)

# API tokens: only the SHA-256 of the secret part is stored; the token is shown once.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(16), nullable=False),
    Column("identity_id", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("id"),
    ForeignKeyConstraint(["identity_id"], ["identities.id"]),
    Index("ix_api_tokens_identity_id", "identity_id"),
)
