"""The gateway's Prometheus metrics: requests counted by endpoint, version and status, and
the prediction log's counters mirrored as increments, never counted twice."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelward.serving.metrics import GatewayMetrics


def _samples(metrics: GatewayMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def test_requests_are_counted_per_endpoint_version_and_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics = GatewayMetrics()
    churn = metrics.bind("churn", "3")
    for _ in range(3):
        churn.status(200)
    churn.status(422)
    metrics.bind("fraud", "1").status(200)
    seen = _samples(metrics)
    label = (("endpoint", "churn"), ("model_version", "3"))
    assert seen[("modelward_gateway_requests_total", frozenset((*label, ("status", "200"))))] == 3
    assert seen[("modelward_gateway_requests_total", frozenset((*label, ("status", "422"))))] == 1
    fraud = (("endpoint", "fraud"), ("model_version", "1"), ("status", "200"))
    assert seen[("modelward_gateway_requests_total", frozenset(fraud))] == 1


def test_latency_lands_in_its_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics = GatewayMetrics()
    churn = metrics.bind("churn", "3")
    churn.latency.observe(0.003)  # between the 2 ms and 4 ms bounds
    seen = _samples(metrics)
    label = (("endpoint", "churn"), ("model_version", "3"))
    assert (
        seen[("modelward_gateway_request_seconds_bucket", frozenset((*label, ("le", "0.002"))))]
        == 0
    )
    assert (
        seen[("modelward_gateway_request_seconds_bucket", frozenset((*label, ("le", "0.004"))))]
        == 1
    )
    assert seen[("modelward_gateway_request_seconds_count", frozenset(label))] == 1


def test_the_logs_counters_are_mirrored_by_their_increase_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics = GatewayMetrics()
    metrics.sync_log(depth=5, dropped=2, written=10, quarantined=1, write_errors=1)
    metrics.sync_log(depth=0, dropped=2, written=25, quarantined=1, write_errors=3)
    # a counter read as smaller (a writer restarted) adds nothing rather than going back
    metrics.sync_log(depth=1, dropped=0, written=3)
    seen = _samples(metrics)
    assert seen[("modelward_prediction_log_written_total", frozenset(()))] == 25
    assert seen[("modelward_prediction_log_dropped_total", frozenset(()))] == 2
    assert seen[("modelward_prediction_log_quarantined_total", frozenset(()))] == 1
    assert seen[("modelward_prediction_log_write_errors_total", frozenset(()))] == 3
    assert seen[("modelward_prediction_log_queue_depth", frozenset(()))] == 1
