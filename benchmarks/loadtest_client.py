"""The load tester's own ceiling: how many requests/s ``modelward loadtest``'s driver can
send and time, beside the raw limit of the same HTTP client, on the same in-memory server.

A gateway measured close to this ceiling is limited by the client, not the server: the
number tells how far ``modelward loadtest`` can be trusted on this machine. Both rows use
httpx's ``AsyncClient`` on an in-memory transport that answers a fixed prediction (no
socket, no server work):

* ``raw httpx``: ``concurrency`` tasks posting the same body in a loop, nothing recorded;
* ``loadtest driver``: ``modelward.readiness.loadtest.drive`` (round-robin bodies, timing
  each request, parsing each answer, counting statuses and versions).

    python benchmarks/loadtest_client.py                 # 3 s per row, 8 clients
    python benchmarks/loadtest_client.py --duration 10 --concurrency 32 --out result.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

import httpx

from modelward.readiness.loadtest import drive

ANSWER = {"prediction": 0.3, "model": "churn", "model_version": "3", "degraded": False}


def transport() -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, json=ANSWER))


async def raw(duration: float, concurrency: int) -> float:
    done = 0
    async with httpx.AsyncClient(transport=transport(), base_url="http://gw") as client:
        deadline = time.perf_counter() + duration

        async def loop() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await client.post("/v1/endpoints/churn/predict", content=b'{"inputs": {"x": 1}}')
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


async def ours(duration: float, concurrency: int) -> float:
    async with httpx.AsyncClient(transport=transport(), base_url="http://gw") as client:
        bodies = [json.dumps({"inputs": {"x": i}}).encode() for i in range(64)]
        tally, elapsed = await drive(
            client, "/v1/endpoints/churn/predict", bodies, concurrency=concurrency,
            duration_s=duration,
        )  # fmt: skip
        return len(tally.latencies) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = {
        "raw httpx": asyncio.run(raw(args.duration, args.concurrency)),
        "loadtest driver": asyncio.run(ours(args.duration, args.concurrency)),
    }
    load = os.getloadavg()
    print(f"clients {args.concurrency}, {args.duration:g} s per row; load average {load}")
    print(f"{'row':<18}{'requests/s':>12}{'us/request':>12}")
    for name, rps in rows.items():
        print(f"{name:<18}{rps:>12.0f}{1e6 / rps:>12.1f}")
    overhead = 1e6 / rows["loadtest driver"] - 1e6 / rows["raw httpx"]
    result = {
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "requests_per_s": rows,
        "driver_overhead_us_per_request": overhead,
        "load_average": load,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
