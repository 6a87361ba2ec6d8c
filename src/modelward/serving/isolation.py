"""Finding the rows a failed batch call failed on, so only they fail.

A micro-batch reads features and calls the model once for many requests' rows. When that
one call raises, and the dependency itself is sound (the online store answers a probe,
the model scores its warm-up input), the failure is in some rows' values: the batch is
split in halves and each half tried again, down to single rows, so every row that works
gets its answer and each bad row gets its own error. The cost (about two calls per bad
row, times the depth) is paid only on the failure path, and bounded by ``max_calls``:
past it, what is still unresolved fails with the error its part last raised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["by_halves"]


def by_halves(
    n: int,
    attempt: Callable[[int, int], Sequence[Any]],
    failure: Exception,
    *,
    max_calls: int = 64,
) -> list[Any]:
    """Per item ``0..n-1``: its result from ``attempt(lo, hi)`` (which returns one result
    per item of ``lo:hi``, or raises), or the exception it fails with on its own.

    ``failure`` is what ``attempt(0, n)`` already raised; it is not called again.
    """
    out: list[Any] = [failure] * n
    calls = 0
    pending = [(0, n, failure)]
    while pending:
        lo, hi, error = pending.pop()
        if hi - lo == 1 or calls >= max_calls:
            out[lo:hi] = [error] * (hi - lo)
            continue
        mid = (lo + hi) // 2
        for a, b in ((lo, mid), (mid, hi)):
            calls += 1
            try:
                results = attempt(a, b)
            except Exception as exc:
                pending.append((a, b, exc))
            else:
                out[a:b] = list(results)
    return out
