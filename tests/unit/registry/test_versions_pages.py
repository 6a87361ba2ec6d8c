"""A page of a long version history, newest first, read without the rest."""

from __future__ import annotations

from modelward import registry
from modelward.config import Workspace
from modelward.registry.lineage import empty_record
from modelward.session import Session
from tests.unit.rollout.support import catalogue


def test_newest_and_skip_read_one_page_newest_first(sqlite_workspace: Workspace) -> None:
    with Session(sqlite_workspace) as session:
        catalogue(session, "churn", [empty_record() for _ in range(5)])
        catalogue(session, "other", [empty_record()])
        page = registry.list_versions(session, "churn", discover=False, newest=2, skip=1)
        assert [v.ref for v in page] == ["churn@4", "churn@3"]
        assert registry.list_versions(session, "churn", discover=False, newest=2, skip=4)[
            0
        ].ref == ("churn@1")
        every = registry.list_versions(session, "churn", discover=False)
        assert [v.version for v in every] == [1, 2, 3, 4, 5]  # the default order holds
