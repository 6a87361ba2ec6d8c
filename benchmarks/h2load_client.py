"""Closed-loop load from ``h2load`` (nghttp2's C load generator), over HTTP/1.1 or gRPC.

One C client for both protocols, so a gRPC-against-REST ratio compares the servers and
not two Python clients (an asyncio HTTP/1.1 loop against ``grpc.aio``, which costs several
times more CPU per call and shares the cores with the server). ``h2load`` speaks HTTP/1.1
(``--h1``) and HTTP/2; a gRPC unary call is an HTTP/2 POST of the length-prefixed message
(:func:`grpc_frame`) with ``content-type: application/grpc`` and ``te: trailers``.

``h2load`` reads only the HTTP status: a gRPC call that fails still answers 200, its
``grpc-status`` in the trailers, with no message. So each gRPC result also says how many
answers carried a message (``answered``, from the DATA bytes h2load received and the
answer's known size); the caller checks that against what the server counted. Latencies
come from ``--log-file`` (one line per request: start, status, microseconds).
Install: ``apt-get install nghttp2-client``.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["available", "grpc_frame", "run_h2load"]


def available() -> bool:
    return shutil.which("h2load") is not None


def grpc_frame(message: bytes) -> bytes:
    """``message`` as a gRPC length-prefixed message: not compressed, 4-byte big-endian size."""
    return b"\x00" + struct.pack(">I", len(message)) + message


def _percentile(sorted_us: list[int], q: float) -> float:
    if not sorted_us:
        return 0.0
    return sorted_us[min(len(sorted_us) - 1, int(q * len(sorted_us)))] / 1000.0


def run_h2load(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    concurrency: int,
    duration_s: float,
    grpc: bool = False,
) -> dict[str, Any]:
    """``concurrency`` requests in flight on ``url`` for ``duration_s`` seconds.

    HTTP/1.1: one keep-alive connection per request in flight (``--h1 -c N``). gRPC: one
    HTTP/2 connection with ``N`` concurrent streams (``-c 1 -m N``), as a gRPC channel
    carries them. The result has the keys of ``http_load.run_builtin``, plus ``data_bytes``
    (the answers' DATA bytes)."""
    conns, streams = (1, concurrency) if grpc else (concurrency, 1)
    with tempfile.TemporaryDirectory() as tmp:
        body_file, log_file = Path(tmp) / "body", Path(tmp) / "latency.log"
        body_file.write_bytes(body)
        command = [
            "h2load",
            *([] if grpc else ["--h1"]),
            "-c",
            str(conns),
            "-m",
            str(streams),
            "-D",
            f"{max(1, round(duration_s))}",  # h2load takes whole seconds
            "-d",
            str(body_file),
            f"--log-file={log_file}",
        ]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        done = subprocess.run([*command, url], capture_output=True, text=True, check=False)
        out = done.stdout
        if done.returncode != 0 or "requests:" not in out:
            raise RuntimeError(f"h2load failed ({done.returncode}): {done.stderr[-500:]}")
        latencies: list[int] = []
        statuses_bad = 0
        for line in log_file.read_text().splitlines():
            _, status, micros = line.split("\t")
            latencies.append(int(micros))
            if not 200 <= int(status) < 400:
                statuses_bad += 1
    latencies.sort()
    elapsed = float(re.search(r"finished in ([\d.]+)(m?s)", out).group(1))  # type: ignore[union-attr]
    if re.search(r"finished in [\d.]+ms", out):
        elapsed /= 1000.0
    # "failed" counts the non-2xx answers, already in the log; these never answered
    lost = re.search(r"(\d+) errored, (\d+) timeout", out)
    data = re.search(r"traffic: .*?, [\d.]+\w*B \((\d+)\) data", out)
    return {
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        "requests": len(latencies),
        "non_2xx": statuses_bad + (sum(int(n) for n in lost.groups()) if lost else 0),
        "data_bytes": int(data.group(1)) if data else 0,
        "client": f"h2load ({'HTTP/2, 1 connection' if grpc else 'HTTP/1.1'})",
    }
