"""Module-level pipelines the tests run (workers load them again by module and name)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pyarrow as pa

from modelward.pipelines import Param, StepContext, pipeline, step


@step
def numbers(n: int) -> pa.Table:
    return pa.table({"i": list(range(n)), "sq": [i * i for i in range(n)]})


@step(outputs=("evens", "odds"))
def split(numbers: pa.Table) -> tuple[list[int], list[int]]:
    values = numbers.column("sq").to_pylist()
    return [v for v in values if v % 2 == 0], [v for v in values if v % 2]


@step
def total(evens: list[int], odds: list[int], scale: float) -> dict[str, float]:
    return {"evens": sum(evens) * scale, "odds": sum(odds) * scale}


arith = pipeline(
    "arith",
    [total, numbers, split],
    params={"n": Param(int, default=10, help="how many numbers"), "scale": 1.0},
)


@step
def boom_source(n: int) -> list[int]:
    return list(range(n))


@step
def boom(boom_source: list[int]) -> int:
    raise ValueError(f"no good: {len(boom_source)} values")


@step
def after_boom(boom: int) -> int:
    return boom + 1


failing = pipeline("failing", [boom_source, boom, after_boom], params={"n": 3})


@step
def first(marker: str) -> list[int]:
    return [1, 2, 3]


@step
def fragile(first: list[int], marker: str, ctx: StepContext) -> int:
    """Kills its own worker the first time (as an OOM killer or an operator would)."""
    flag = Path(marker)
    if not flag.exists():
        flag.write_text(ctx.run_id)
        os.kill(os.getpid(), signal.SIGKILL)
    return sum(first)


@step
def last(fragile: int) -> int:
    return fragile * 10


killable = pipeline("killable", [first, fragile, last], params={"marker": Param(str)})


@step
def prepare(release: str) -> str:
    return release


@step
def wait_for_release(prepare: str, started: str) -> str:
    """Blocks until the file ``prepare`` names exists (the test kills the driver meanwhile)."""
    import time

    Path(started).write_text("started")
    deadline = time.monotonic() + 60
    while not Path(prepare).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("never released")
        time.sleep(0.05)
    return "released"


blocking = pipeline(
    "blocking", [prepare, wait_for_release], params={"release": Param(str), "started": Param(str)}
)
