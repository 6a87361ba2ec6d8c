"""A data pipeline incident names its upstream: the feature view and the snapshot its
online values were materialized from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelward.config import Workspace
from modelward.data import snapshot
from modelward.features import (
    Catalog,
    Entity,
    Feature,
    FeatureView,
    SnapshotSource,
    apply,
    materialize,
)
from modelward.monitoring import AlertPolicy
from modelward.monitoring.alerts import conditions_of
from modelward.monitoring.upstream import upstream_sources
from modelward.session import Session
from tests.unit.features.support import hours, write_stats


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as opened:
        yield opened


def _materialized(session: Session) -> Any:
    source = write_stats(session.workspace.root / "stats.parquet")
    snap = snapshot(source, name="stats", session=session)
    view = FeatureView(
        "driver_stats",
        entities=[Entity("driver", "driver_id")],
        source=SnapshotSource("stats@1"),
        created_timestamp="created",
        features=[Feature("trips", "int64"), Feature("rating", "float64")],
    )
    catalog = Catalog([view])
    apply(session, catalog)
    [run] = materialize([view], session=session, catalog=catalog, end=hours(10))
    return snap, run


def test_a_served_feature_names_its_view_and_the_snapshot_it_was_read_from(
    session: Session,
) -> None:
    snap, run = _materialized(session)
    later = datetime.now(UTC) + timedelta(hours=1)
    found = upstream_sources(session, ["trips", "driver_stats:rating", "email"], before=later)
    assert set(found) == {"trips", "driver_stats:rating"}  # email is a request field
    digest = snap.content_hash.rpartition(":")[2][:12]
    assert found["trips"].startswith(
        f"feature view driver_stats, materialized from snapshot:stats@1 (sha256:{digest}) "
        f"by run {run.id[:8]}"
    )
    # a window that ended before the first materialization had nothing from it
    earlier = upstream_sources(session, ["trips"], before=datetime(2000, 1, 1, tzinfo=UTC))
    assert earlier == {
        "trips": "feature view driver_stats, not materialized before the window ended"
    }


def test_the_incident_alert_quotes_the_upstream_of_its_broken_features() -> None:
    version = {
        "version": "1",
        "drift": {
            "features": [
                {"feature": "trips", "status": "drift", "quality": ["null_rate_jump"]},
                {"feature": "rating", "status": "stable", "quality": []},
            ]
        },
        "performance": {"auc": 0.70},
    }
    upstream = {"trips": "feature view driver_stats, materialized from snapshot:stats@2"}
    found, _ = conditions_of(
        [version],
        {"1": {"trips": 0.7, "rating": 0.3}},
        {"1": 0.80},
        AlertPolicy(),
        upstream=upstream,
    )
    [incident] = found
    assert incident.kind == "data_pipeline_incident"
    assert incident.message.endswith(
        "check the upstream source before retraining "
        "(upstream: trips: feature view driver_stats, materialized from snapshot:stats@2)"
    )
