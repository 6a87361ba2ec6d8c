"""Security context: the audit chain, identities, API tokens and roles."""

from modelward.security.audit import AuditEntry, ChainReport, entries, record, verify
from modelward.security.roles import Permission, Principal, Role

__all__ = [
    "AuditEntry",
    "ChainReport",
    "Permission",
    "Principal",
    "Role",
    "entries",
    "record",
    "verify",
]
