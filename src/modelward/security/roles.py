"""Roles and what they may do. A :class:`Principal` is who is acting, with their role.

=========  ===========================================================================
viewer     read datasets, models, lineage, endpoints, online features and the audit log
developer  viewer + write datasets, register models, move versions between stages
approver   viewer + approve versions, move versions between stages, roll back
operator   viewer + change endpoints and drive releases (start, advance, promote, roll back)
admin      everything, including overriding a failing gate, managing identities and
           reading the online values of features marked PII
=========  ===========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from modelward.errors import InputError, PermissionDenied

__all__ = ["ROLE_PERMISSIONS", "Permission", "Principal", "Role", "parse_role"]


class Role(StrEnum):
    VIEWER = "viewer"
    DEVELOPER = "developer"
    APPROVER = "approver"
    OPERATOR = "operator"
    ADMIN = "admin"


class Permission(StrEnum):
    DATASETS_READ = "datasets:read"
    DATASETS_WRITE = "datasets:write"
    MODELS_READ = "models:read"
    MODELS_WRITE = "models:write"
    MODELS_TRANSITION = "models:transition"
    MODELS_APPROVE = "models:approve"
    MODELS_ROLLBACK = "models:rollback"
    MODELS_OVERRIDE = "models:override"
    ENDPOINTS_READ = "endpoints:read"
    ENDPOINTS_WRITE = "endpoints:write"
    RELEASES_READ = "releases:read"
    RELEASES_OPERATE = "releases:operate"
    #: send delayed ground truth for logged predictions (monitoring's labels)
    LABELS_WRITE = "labels:write"
    #: trigger a retraining policy by hand, pause or resume one (the kill switch)
    RETRAINING_OPERATE = "retraining:operate"
    #: say someone is on a firing alert (no reminders until it resolves)
    ALERTS_ACKNOWLEDGE = "alerts:acknowledge"
    AUDIT_READ = "audit:read"
    #: read online feature values (the feature server); PII features come back redacted
    FEATURES_READ = "features:read"
    #: read the online values of features marked PII, unredacted
    FEATURES_READ_PII = "features:read_pii"
    IDENTITIES_ADMIN = "identities:admin"


_READ = frozenset(
    {
        Permission.DATASETS_READ,
        Permission.MODELS_READ,
        Permission.ENDPOINTS_READ,
        Permission.RELEASES_READ,
        Permission.AUDIT_READ,
        Permission.FEATURES_READ,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _READ,
    Role.DEVELOPER: _READ
    | {
        Permission.DATASETS_WRITE,
        Permission.MODELS_WRITE,
        Permission.MODELS_TRANSITION,
        Permission.ENDPOINTS_WRITE,
        Permission.LABELS_WRITE,
    },
    Role.APPROVER: _READ
    | {Permission.MODELS_APPROVE, Permission.MODELS_TRANSITION, Permission.MODELS_ROLLBACK},
    Role.OPERATOR: _READ
    | {
        Permission.ENDPOINTS_WRITE,
        Permission.RELEASES_OPERATE,
        Permission.RETRAINING_OPERATE,
        Permission.ALERTS_ACKNOWLEDGE,
    },
    Role.ADMIN: frozenset(Permission),
}


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InputError(
            f"role: {value[:40]!r} is not a role; use one of {', '.join(r.value for r in Role)}",
            field="role",
        ) from None


@dataclass(frozen=True)
class Principal:
    """An authenticated identity acting now."""

    name: str
    role: Role
    kind: str = "user"
    identity_id: str | None = None

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PermissionDenied(
                f"{self.name} ({self.role.value}) may not do this: it needs the "
                f"{permission.value!r} permission, which the {self.role.value} role lacks",
                permission=permission.value,
                role=self.role.value,
            )
