"""An endpoint's traffic per time bucket, from a prediction log window."""

from __future__ import annotations

import pytest

from modelward.monitoring import PredictionRecord, open_prediction_sink
from modelward.web.traffic import traffic_of

START = 1_800_000_000.0


def _record(
    i: int,
    at_s: float,
    latency: float,
    *,
    error: str = "",
    degraded: bool = False,
    version: str = "1",
) -> PredictionRecord:
    return PredictionRecord(
        f"r{i}",
        int(at_s * 1e6),
        "churn",
        "churn",
        version,
        {"x": i},
        0.5,
        latency,
        degraded,
        error=error,
    )


def test_buckets_count_requests_percentiles_errors_and_fallbacks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    sink = open_prediction_sink({"type": "memory"}, tmp_path)
    records = [_record(i, START + i, float(i + 1)) for i in range(100)]  # bucket 0: 1..60 ms
    records += [
        _record(200, START + 130, 5.0, error="Timeout", version="2"),
        _record(201, START + 131, 7.0, degraded=True, version="2"),
    ]
    sink.write(records)
    window = sink.read_window("churn")
    traffic = traffic_of(window, start_s=START, end_s=START + 180, bucket_s=60)

    assert traffic.starts == [START, START + 60, START + 120]
    assert traffic.requests == [60, 40, 2]
    assert traffic.p50[0] == pytest.approx(30.5)
    assert traffic.p99[1] == pytest.approx(99.61)
    assert traffic.errors == [0, 0, 1] and traffic.fallbacks == [0, 0, 1]
    assert traffic.by_version == {"churn@1": 100, "churn@2": 2}
    assert traffic.overall()["error_rate"] == pytest.approx(1 / 102)


def test_an_empty_window_is_empty_buckets_not_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    sink = open_prediction_sink({"type": "memory"}, tmp_path)
    traffic = traffic_of(sink.read_window("churn"), start_s=START, end_s=START + 120)
    assert traffic.requests == [0, 0] and traffic.p95 == [None, None]
    assert traffic.overall()["error_rate"] is None
