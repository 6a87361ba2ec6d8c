"""Where a batch run's parts are scored: this process, processes of this machine, or Ray.

Every engine runs the same :class:`~modelward.serving.batch_parts.PartScorer` on whole
parts; only where it runs differs. The run's own process reads the input (in order,
memory bounded by a few parts in flight), skips the parts a killed run had finished, and
hands the rest to the engine; the engine calls ``on_done`` with each part's manifest entry
as it lands, in any order (the manifest sorts them by index).

- ``local`` with one worker: in this process, part after part.
- ``local`` with ``workers=N``: a pool of N worker processes (started with ``spawn``, so
  no lock or thread of this process is inherited half-held), each with its own loaded
  model and prediction log connection, each writing its parts by rename.
- ``ray``: the same scorer in Ray actors (see :mod:`modelward.serving.batch_ray`).

A part a killed run was scoring may have some of its log lines written already; with
several parts in flight any unfinished part may, and a run killed on N workers may be
finished on one, so a resumed run looks up the request ids of every part it scores and
writes only the lines not there yet.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from modelward.errors import InputError
from modelward.serving.batch_parts import PartPlan, PartScorer

__all__ = ["EngineChoice", "PartEngine", "choose_engine"]

OnDone = Callable[[dict[str, Any]], None]
ENGINES = ("local", "ray")


class PartEngine(Protocol):
    def run(self, parts: Iterator[tuple[int, pa.Table]], *, resumed: bool, on_done: OnDone) -> None:
        """Score every ``(index, table)`` of ``parts``; ``on_done`` with each entry."""
        ...


@dataclass(frozen=True)
class EngineChoice:
    kind: str
    workers: int
    address: str | None

    @property
    def processes(self) -> bool:
        """Whether parts are scored outside this process (the workers load the model)."""
        return self.kind == "ray" or self.workers > 1

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": self.workers, "address": self.address}

    def open(self, plan: PartPlan, scorer: PartScorer | None) -> PartEngine:
        if self.kind == "ray":
            from modelward.serving.batch_ray import RayEngine

            return RayEngine(plan, self.workers, self.address)
        if self.workers > 1:
            return ProcessEngine(plan, self.workers)
        assert scorer is not None
        return InProcessEngine(scorer)


def choose_engine(
    kind: str, workers: int, address: str | None, parts: int | None = None
) -> EngineChoice:
    """The engine ``kind`` names, checked: a clear error naming the option otherwise.

    ``workers=0`` is every core of this machine, but never more processes than the
    input has ``parts`` (when known): a small input is scored in this process, without
    the second or so each worker takes to start.
    """
    if kind not in ENGINES:
        raise InputError(f"engine {kind!r}: expected one of {', '.join(ENGINES)}", field="engine")
    if workers < 0:
        raise InputError("workers must be 0 (every core) or more", field="workers")
    if address is not None and kind != "ray":
        raise InputError("address is the Ray cluster's: it needs engine 'ray'", field="address")
    if workers == 0:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        workers = cores or os.cpu_count() or 1
        if parts is not None:
            workers = max(1, min(workers, parts))
    return EngineChoice(kind, workers, address)


class InProcessEngine:
    def __init__(self, scorer: PartScorer) -> None:
        self.scorer = scorer

    def run(self, parts: Iterator[tuple[int, pa.Table]], *, resumed: bool, on_done: OnDone) -> None:
        for index, table in parts:
            on_done(self.scorer.score_part(index, table, dedupe_log=resumed))


_worker: PartScorer | None = None
_parent = 0


def _start_worker(plan: PartPlan) -> None:
    global _worker, _parent
    _parent = os.getppid()
    _worker = PartScorer.open(plan)


def _score_in_worker(index: int, table: pa.Table, dedupe: bool) -> dict[str, Any]:
    assert _worker is not None, "the worker's initializer did not run"
    if os.getppid() != _parent:
        # the run's process was killed: a restarted run may be scoring this part already,
        # and an orphan writing beside it could log a row twice
        raise SystemExit(0)
    return _worker.score_part(index, table, dedupe_log=dedupe)


class ProcessEngine:
    """Parts scored by a pool of worker processes, at most two per worker in flight."""

    def __init__(self, plan: PartPlan, workers: int) -> None:
        self.plan = plan
        self.workers = workers

    def run(self, parts: Iterator[tuple[int, pa.Table]], *, resumed: bool, on_done: OnDone) -> None:
        window = 2 * self.workers
        pending: set[Future[dict[str, Any]]] = set()
        with ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.plan,),
        ) as pool:
            try:
                for index, table in parts:
                    while len(pending) >= window:
                        pending = _collect(pending, on_done)
                    pending.add(pool.submit(_score_in_worker, index, table, resumed))
                while pending:
                    pending = _collect(pending, on_done)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise


def _collect(pending: set[Future[dict[str, Any]]], on_done: OnDone) -> set[Future[dict[str, Any]]]:
    done, rest = wait(pending, return_when=FIRST_COMPLETED)
    for future in done:
        on_done(future.result())  # a worker's error is raised here, in the run's process
    return rest
