"""Where reference profiles are kept: one per model version in the metadata store (SQLite and
Postgres), saved with an audit entry, and a version without one named when it is asked for."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from modelward import security
from modelward.config import Workspace
from modelward.errors import NotFound
from modelward.monitoring import (
    build_profile,
    find_profile,
    get_profile,
    save_profile,
)
from modelward.session import Session
from tests.unit.monitoring.support import training_rows


class Model:
    feature_importances_ = np.array([0.6, 0.3, 0.1])


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as opened:
        yield opened


def test_a_saved_profile_reads_back_and_a_version_without_one_says_so(session: Session) -> None:
    profile = build_profile(training_rows(1_000), model=Model())
    digest = save_profile(session, "churn", 1, profile, actor="tester")
    assert get_profile(session, "churn", 1) == profile
    assert find_profile(session, "churn", 2) is None
    with pytest.raises(NotFound, match=r"churn@2 has no reference profile"):
        get_profile(session, "churn", 2)
    with session.store.read() as conn:
        entry = list(security.entries(conn, action="monitoring.reference_saved"))[-1]
    assert entry.payload["digest"] == digest
