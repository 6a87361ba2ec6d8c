"""Latency of one call, measured the same way by every in-process benchmark here."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable
from typing import Any


def latency(fn: Callable[[], Any], n: int, *, warmup: int = 200) -> dict[str, float]:
    """p50, p99 and mean of ``n`` calls of ``fn`` in µs, after ``min(n, warmup)`` calls that
    warm caches, prepared statements, tokens and connections (their times are dropped)."""
    for _ in range(min(n, warmup)):
        fn()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t = clock()
        fn()
        samples.append(clock() - t)
    samples.sort()
    return {
        "p50_us": samples[len(samples) // 2] / 1000,
        "p99_us": samples[int(len(samples) * 0.99)] / 1000,
        "mean_us": statistics.fmean(samples) / 1000,
    }


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
