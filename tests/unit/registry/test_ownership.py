"""Who owns a model and who is paged for it: one line of text each, set by writers only,
a value left out kept, and every change audited with the values it set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelward.config import Workspace
from modelward.errors import InputError, NotFound, PermissionDenied
from modelward.registry.ownership import set_owner
from modelward.security import entries
from modelward.security.roles import Principal, Role
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, placeholder_version

pytestmark = MLFLOW_WARNINGS

WRITER = Principal("dev", Role.DEVELOPER)


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as s:
        yield s


@pytest.fixture
def local(sqlite_workspace: Workspace) -> Iterator[Session]:
    """The embedded store only: refusals come before any write."""
    with Session(sqlite_workspace) as s:
        yield s


@pytest.mark.parametrize(
    ("owner", "on_call", "field"),
    [
        ("", None, "owner"),
        ("   ", None, "owner"),
        ("x" * 201, None, "owner"),
        (None, "pager\nsecond line", "on_call"),
        (None, "tab\there", "on_call"),
    ],
)
def test_a_contact_that_is_not_one_short_line_names_its_field(
    local: Session, owner: str | None, on_call: str | None, field: str
) -> None:
    with pytest.raises(InputError, match=f"{field}: 1-200 characters on one line") as info:
        set_owner(local, WRITER, "churn", owner=owner, on_call=on_call)
    assert info.value.details["field"] == field


def test_nothing_to_set_and_an_unknown_model_are_refused(local: Session) -> None:
    with pytest.raises(InputError, match="give an owner, an on-call contact or both"):
        set_owner(local, WRITER, "churn")
    with pytest.raises(NotFound, match="model 'churn' is not registered"):
        set_owner(local, WRITER, "churn", owner="risk-team")
    with pytest.raises(PermissionDenied):
        set_owner(local, Principal("v", Role.VIEWER), "churn", owner="risk-team")


def test_owner_and_on_call_are_trimmed_kept_when_left_out_and_audited(session: Session) -> None:
    placeholder_version(session, "churn")
    model = set_owner(session, WRITER, "churn", owner="  risk-team ")
    assert (model.owner, model.on_call) == ("risk-team", None)
    x = "x" * 200  # the longest contact allowed
    model = set_owner(session, WRITER, "churn", on_call=x)
    assert (model.owner, model.on_call) == ("risk-team", x)
    with session.store.read() as conn:
        audited = [
            (e.actor, e.payload)
            for e in entries(conn, action="model.owner.set", target="model:churn")
        ]
    assert audited == [
        ("dev", {"owner": "risk-team", "on_call": None}),
        ("dev", {"owner": "risk-team", "on_call": x}),
    ]
