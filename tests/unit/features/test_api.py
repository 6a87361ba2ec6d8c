"""The features context's public functions over a workspace, as other contexts and the CLI
call them: plan and apply the definitions, materialize, read online, check skew."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelward.config import Workspace
from modelward.errors import InputError
from modelward.features import api
from modelward.session import Session
from tests.unit.features.support import write_stats

DEFINITIONS = """
from pathlib import Path
from modelward.features import Entity, Feature, FeatureView
stats = FeatureView(
    "driver_stats",
    entities=[Entity("driver", ["driver_id"])],
    source=str(Path(__file__).parent / "driver_stats.parquet"),
    created_timestamp="created",
    features=[Feature("trips", "int64"), Feature("rating", "float64"), Feature("city", "string")],
)
"""


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    write_stats(sqlite_workspace.root / "driver_stats.parquet")
    (sqlite_workspace.root / "features.py").write_text(DEFINITIONS)
    with Session(sqlite_workspace) as s:
        yield s


def test_a_new_view_is_planned_applied_and_then_nothing_is_pending(session: Session) -> None:
    planned = api.plan(session)
    assert [(c.view, c.action) for c in planned.pending] == [("driver_stats", "create")]
    assert api.list_views(session) == []  # a plan writes nothing
    api.apply(session)
    assert api.plan(session).pending == []
    assert [v["name"] for v in api.list_views(session)] == ["driver_stats"]
    assert api.show("driver_stats", session)["name"] == "driver_stats"


def test_materialized_values_are_read_online_and_agree_with_the_offline_join(
    session: Session,
) -> None:
    api.apply(session)
    (run,) = api.materialize(["driver_stats"], session=session)
    assert run.view == "driver_stats"
    got = api.get_online_features({"driver_id": [1, 2, 3]}, ["driver_stats:trips"], session=session)
    # the latest row per driver (driver 1: the later-created row of its last hour); 3 is unknown
    assert got.columns["trips"] == [21, 0, None]
    report = api.check_skew("driver_stats", sample=10, session=session)
    assert report.sampled == 2 and report.passed
    stats = api.compute_view_stats("driver_stats", session=session)
    # over the latest value per entity: two drivers, trips 21 and 0
    assert (stats["rows"], stats["features"]["trips"]["cardinality"]) == (2, 2)


def test_an_unknown_feature_is_refused_naming_it(session: Session) -> None:
    with pytest.raises(InputError, match="unknown feature 'nope:x'"):
        api.get_online_features({"driver_id": [1]}, ["nope:x"], session=session)
