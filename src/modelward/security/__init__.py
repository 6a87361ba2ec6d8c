"""Security context: the audit chain (identities, tokens and roles come next)."""

from modelward.security.audit import AuditEntry, ChainReport, entries, record, verify

__all__ = ["AuditEntry", "ChainReport", "entries", "record", "verify"]
