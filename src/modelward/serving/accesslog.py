"""Structured JSON access log, written by a background thread (never on the request path).

The request path appends a tuple to a bounded deque; a thread formats and writes JSON
lines in batches. When the deque is full, lines are dropped and counted in the next line
written (``"dropped_before"``), so a log flood cannot slow requests down.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from typing import Any, TextIO

import orjson

__all__ = ["AccessLog"]


class AccessLog:
    def __init__(self, stream: TextIO | None = None, *, capacity: int = 100_000) -> None:
        self._stream = stream or sys.stderr
        self._capacity = capacity
        self._lines: deque[tuple[Any, ...]] = deque()
        self._dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()

    def log(
        self,
        request_id: str,
        method: str,
        path: str,
        status: int,
        latency_s: float,
        endpoint: str | None = None,
        model_version: str | None = None,
        degraded: bool | None = None,
        error: str | None = None,
    ) -> None:
        if len(self._lines) >= self._capacity:
            self._dropped += 1
            return
        self._lines.append(
            (
                time.time(),
                request_id,
                method,
                path,
                status,
                latency_s,
                endpoint,
                model_version,
                degraded,
                error,
            )
        )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self._write()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._write()

    def _write(self) -> None:
        lines = self._lines
        if not lines:
            return
        out = []
        while lines:
            at, rid, method, path, status, lat, endpoint, version, degraded, error = lines.popleft()
            entry: dict[str, Any] = {
                "ts": round(at, 6),
                "level": "info" if status < 500 else "error",
                "msg": "request",
                "request_id": rid,
                "method": method,
                "path": path,
                "status": status,
                "latency_ms": round(lat * 1000, 3),
            }
            if endpoint is not None:
                entry["endpoint"] = endpoint
            if version is not None:
                entry["model_version"] = version
            if degraded is not None:
                entry["degraded"] = degraded
            if error is not None:
                entry["error"] = error
            if self._dropped:
                entry["dropped_before"], self._dropped = self._dropped, 0
            out.append(orjson.dumps(entry).decode())
        try:
            self._stream.write("\n".join(out) + "\n")
            self._stream.flush()
        except (OSError, ValueError):  # stderr closed at shutdown: nothing left to tell
            pass
