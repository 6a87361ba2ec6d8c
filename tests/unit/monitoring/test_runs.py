"""Monitor runs over the metadata store (SQLite and Postgres) and the in-memory prediction log:
drift found, labelled rows scored, per segment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from modelward.config import Workspace
from modelward.errors import NotFound, StoreUnavailable
from modelward.monitoring import (
    build_profile,
    get_run,
    ingest_labels,
    latest_run,
    run_monitor,
    save_profile,
)
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.security import Principal, Role
from modelward.session import Session
from tests.unit.monitoring.support import T0_US, logged, training_rows

DEV = Principal("dev", Role.DEVELOPER)


END = datetime.fromtimestamp(T0_US / 1e6, UTC) + timedelta(hours=1)


class Model:
    feature_importances_ = np.array([0.6, 0.3, 0.1])


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as opened:
        yield opened


@pytest.fixture
def log() -> MemoryPredictionSink:
    return MemoryPredictionSink()


def test_a_run_finds_the_shifted_feature_and_scores_the_labelled_rows(
    session: Session, log: MemoryPredictionSink
) -> None:
    save_profile(session, "churn", 1, build_profile(training_rows(3_000), model=Model()), actor="t")
    log.write(logged(1_500, spend_shift=0.5))
    log.write(logged(600, version="2", seed=2, start_us=T0_US + 5))
    ids = [f"churn-1-1-{i}" for i in range(300)]
    ingest_labels(
        session,
        DEV,
        "churn",
        [{"request_id": r, "label": i % 2} for i, r in enumerate(ids)],
        log=log,
    )
    seen: list[tuple[int, int]] = []
    result = run_monitor(
        session,
        "churn",
        window=timedelta(hours=1),
        end=END,
        log=log,
        progress=lambda done, total, what: seen.append((done, total)),
    )
    assert seen[-1][0] == seen[-1][1]
    by_version = {v.version: v for v in result.versions}
    v1, v2 = by_version["1"], by_version["2"]
    assert v1.rows == 1_500 and v1.reference == "present"
    assert v1.drift is not None and v1.drift["drifted"] == ["monthly_spend"]
    assert v2.reference == "missing" and v2.drift is None
    assert [(f.kind, f.feature) for f in result.findings] == [("drift", "monthly_spend")]
    assert result.findings[0].importance == pytest.approx(0.6)
    perf = v1.performance
    assert perf is not None and perf["labelled"] == 300 and perf["coverage"] == pytest.approx(0.2)
    assert perf["auc"] is not None and 0.0 <= perf["auc"] <= 1.0
    assert v1.latency_ms["p50"] >= 2.0
    assert get_run(session, result.id)["versions"][0]["version"] == "1"
    assert latest_run(session, "churn")["id"] == result.id


def test_an_unreachable_log_stores_nothing(session: Session, log: MemoryPredictionSink) -> None:
    log.unavailable = True
    with pytest.raises(StoreUnavailable):
        run_monitor(session, "churn", end=END, log=log)
    with pytest.raises(NotFound, match="has no monitor run yet"):
        latest_run(session, "churn")


def test_performance_is_broken_down_by_a_declared_segment(
    session: Session, log: MemoryPredictionSink
) -> None:
    from modelward.monitoring import realised_performance

    records = logged(400)
    log.write(records)
    # the model is right on "basic" customers only: their labels follow the score
    labels = [
        {
            "request_id": r.request_id,
            "label": int(r.prediction > 0.3)
            if r.inputs["plan"] == "basic"
            else int(r.prediction < 0.3),
        }
        for r in records
    ]
    ingest_labels(session, DEV, "churn", labels, log=log)
    window = log.read_window("churn")
    perf = realised_performance(session, "churn", window, segments=["plan", "not_an_input"])
    by_plan = perf.segments["plan"]
    assert set(by_plan) == {"basic", "pro", "enterprise"}
    assert by_plan["basic"]["auc"] == pytest.approx(1.0)
    assert by_plan["pro"]["auc"] == pytest.approx(0.0)
    assert sum(p["labelled"] for p in by_plan.values()) == perf.labelled == 400
    assert "not_an_input" not in perf.segments


def test_requests_the_gateway_refused_are_not_the_versions_inputs_or_errors(
    session: Session, log: MemoryPredictionSink
) -> None:
    save_profile(session, "churn", 1, build_profile(training_rows(3_000), model=Model()), actor="t")
    log.write(logged(1_000))
    refused = [
        r._replace(
            request_id=f"bad-{i}",
            inputs={"monthly_spend": None, "support_tickets": None, "plan": r.inputs["plan"]},
            prediction=None,
            role="rejected",
            error="RequestInvalid: inputs.monthly_spend must be a finite number",
        )
        for i, r in enumerate(logged(300, seed=3))
    ]
    log.write(refused)
    result = run_monitor(session, "churn", window=timedelta(hours=1), end=END, log=log)
    (v1,) = result.versions
    assert v1.rows == 1_000 and v1.error_rate == 0.0
    # 300 null spends would be a null-rate jump if they were counted as the version's inputs
    assert result.findings == []
