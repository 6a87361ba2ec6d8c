"""Prometheus metrics of a stream consumer: throughput, outcomes, lag, batches in flight.

Throughput is ``rate(modelward_stream_events_total[1m])``; the consumer lag (events the
group has not been given yet) is sampled from the source; ``source_to_sink_seconds`` is
the time from the source storing an event to its output being written.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["StreamMetrics"]

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class StreamMetrics:
    """The metrics of one consumer process, label children bound to its endpoint."""

    def __init__(self, endpoint: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        events = Counter(
            "modelward_stream_events",
            "Events handled, by outcome: scored, dead_lettered, duplicate (an output "
            "already written for a redelivered event).",
            ["endpoint", "outcome"],
            registry=r,
        )
        self.scored = events.labels(endpoint, "scored")
        self.dead_lettered = events.labels(endpoint, "dead_lettered")
        self.duplicates = events.labels(endpoint, "duplicate")
        self.redelivered = Counter(
            "modelward_stream_redelivered_events",
            "Events delivered again (their consumer died before acknowledging them).",
            ["endpoint"],
            registry=r,
        ).labels(endpoint)
        self.lag = Gauge(
            "modelward_stream_consumer_lag_events",
            "Events in the source stream the consumer group has not been given yet.",
            ["endpoint"],
            registry=r,
        ).labels(endpoint)
        self.in_flight = Gauge(
            "modelward_stream_batches_in_flight",
            "Batches read and not yet acknowledged (bounded by --max-in-flight).",
            ["endpoint"],
            registry=r,
        ).labels(endpoint)
        self.batch_seconds = Histogram(
            "modelward_stream_batch_seconds",
            "Time to score, write, log and acknowledge one batch.",
            ["endpoint"],
            buckets=_SECONDS,
            registry=r,
        ).labels(endpoint)
        self.source_to_sink = Histogram(
            "modelward_stream_source_to_sink_seconds",
            "From the source storing an event to its output being written: the oldest "
            "event of each batch (so the quantiles are an upper bound on any event's).",
            ["endpoint"],
            buckets=_SECONDS,
            registry=r,
        ).labels(endpoint)
        self.unavailable = Counter(
            "modelward_stream_unavailable",
            "Calls to the source, sink or log that found it unreachable (each retried "
            "after a backoff, a bounded number of times).",
            ["endpoint"],
            registry=r,
        ).labels(endpoint)

    def render(self) -> bytes:
        return generate_latest(self.registry)
