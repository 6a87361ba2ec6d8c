"""Roles: who may do what."""

from __future__ import annotations

import pytest

from modelward.errors import InputError, PermissionDenied
from modelward.security.roles import ROLE_PERMISSIONS, Permission, Principal, Role, parse_role


def test_each_role_is_the_previous_plus_something_and_admin_is_everything() -> None:
    viewer = ROLE_PERMISSIONS[Role.VIEWER]
    assert viewer < ROLE_PERMISSIONS[Role.DEVELOPER]
    assert viewer < ROLE_PERMISSIONS[Role.APPROVER]
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    assert Permission.MODELS_APPROVE not in ROLE_PERMISSIONS[Role.DEVELOPER]
    assert Permission.MODELS_TRANSITION not in viewer
    assert Permission.MODELS_OVERRIDE not in ROLE_PERMISSIONS[Role.APPROVER]


def test_require_names_the_permission_and_role() -> None:
    with pytest.raises(PermissionDenied, match=r"'models:approve'.*developer"):
        Principal("dora", Role.DEVELOPER).require(Permission.MODELS_APPROVE)
    with pytest.raises(InputError, match="role: 'root'"):
        parse_role("root")
