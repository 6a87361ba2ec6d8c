"""Security context: the audit chain, identities, API tokens and roles.

This module is the context's public surface; other contexts import only from here.
Names load on first use, so importing it (for ``Principal``, say) loads no database code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelward._exports import lazy_exports

if TYPE_CHECKING:
    from modelward.security.audit import AuditEntry, ChainReport, entries, head, record, verify
    from modelward.security.identities import (
        Identity,
        create_identity,
        find_identity,
        get_identity,
        list_identities,
        set_role,
    )
    from modelward.security.identities import disable as disable_identity
    from modelward.security.roles import Permission, Principal, Role, parse_role
    from modelward.security.tokens import (
        LOCAL_TOKEN_FILE,
        TokenInfo,
        authenticate,
        bootstrap_admin,
        issue_token,
        list_tokens,
        load_local_token,
        principal_for_cli,
        revoke_token,
        save_local_token,
    )

__all__ = [
    "LOCAL_TOKEN_FILE",
    "AuditEntry",
    "ChainReport",
    "Identity",
    "Permission",
    "Principal",
    "Role",
    "TokenInfo",
    "authenticate",
    "bootstrap_admin",
    "create_identity",
    "disable_identity",
    "entries",
    "find_identity",
    "get_identity",
    "head",
    "issue_token",
    "list_identities",
    "list_tokens",
    "load_local_token",
    "parse_role",
    "principal_for_cli",
    "record",
    "revoke_token",
    "save_local_token",
    "set_role",
    "verify",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AuditEntry": "audit",
        "ChainReport": "audit",
        "entries": "audit",
        "head": "audit",
        "record": "audit",
        "verify": "audit",
        "Identity": "identities",
        "create_identity": "identities",
        "disable_identity": "identities:disable",
        "find_identity": "identities",
        "get_identity": "identities",
        "list_identities": "identities",
        "set_role": "identities",
        "Permission": "roles",
        "Principal": "roles",
        "Role": "roles",
        "parse_role": "roles",
        "LOCAL_TOKEN_FILE": "tokens",
        "TokenInfo": "tokens",
        "authenticate": "tokens",
        "bootstrap_admin": "tokens",
        "issue_token": "tokens",
        "list_tokens": "tokens",
        "load_local_token": "tokens",
        "principal_for_cli": "tokens",
        "revoke_token": "tokens",
        "save_local_token": "tokens",
    },
)
