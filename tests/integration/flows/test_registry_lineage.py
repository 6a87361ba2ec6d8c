"""Model names and references: names with path characters or of a huge length refused, unknown
versions and models not found."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelward import registry
from modelward.config import Workspace
from modelward.errors import InputError, NotFound
from modelward.session import Session
from tests.unit.registry.support import (
    MLFLOW_WARNINGS,
    git_commit_all,
    make_snapshot,
    quick_version,
)

pytestmark = MLFLOW_WARNINGS


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    git_commit_all(workspace.root)
    with Session(workspace) as s:
        yield s


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b", "churn\\x", "x" * 10_000, "", " churn"])
def test_model_names_with_path_characters_or_huge_are_refused(session: Session, bad: str) -> None:
    train = make_snapshot(session)
    with pytest.raises(InputError) as info:
        quick_version(session, bad, auc=0.5, train=train)
    assert info.value.details["field"] == "name"
    assert len(info.value.message) < 400


def test_unknown_versions_and_models_are_not_found(session: Session) -> None:
    with pytest.raises(NotFound, match="not registered"):
        registry.get_version(session, "nobody@1")
    train = make_snapshot(session)
    quick_version(session, "churn", auc=0.5, train=train)
    with pytest.raises(NotFound, match="no version 9"):
        registry.get_version(session, "churn@9")
