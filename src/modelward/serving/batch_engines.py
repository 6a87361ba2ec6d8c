"""Where a batch run's parts are scored: this process, processes of this machine, or Ray.

Every engine runs the same :class:`~modelward.serving.batch_parts.PartScorer` on whole
parts; only where it runs differs. The run's own process skips the parts a killed run had
finished and hands the rest to the engine, as tables it reads in order (memory bounded by
a few parts in flight) or as part numbers whose rows the workers read themselves; the
engine calls ``on_done`` with each part's manifest entry as it lands, in any order (the
manifest sorts them by index).

- ``local`` with one worker: in this process, part after part, each written on a writer
  thread while the next is scored (:func:`score_in_order`).
- ``local`` with ``workers=N``: a pool of N worker processes (forked from a ``forkserver``
  that imported the scoring code once, or ``spawn``ed where there is none: either way no
  lock or thread of this process is inherited half-held), each with its own loaded model
  and prediction log connection, each reading its slices of a Parquet input and writing
  its parts by rename (see :class:`ProcessEngine`).
- ``ray``: the same scorer in Ray actors (see :mod:`modelward.serving.batch_ray`).

A part a killed run was scoring may have some of its log lines written already; with
several parts in flight any unfinished part may, and a run killed on N workers may be
finished on one, so a resumed run looks up the request ids of every part it scores and
writes only the lines not there yet.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from modelward.errors import InputError
from modelward.serving.batch_input import BatchInput
from modelward.serving.batch_parts import PartPlan, PartScorer, ScoredPart

__all__ = [
    "EngineChoice",
    "PartEngine",
    "ProcessEngine",
    "choose_engine",
    "score_in_order",
    "scored",
]

OnDone = Callable[[dict[str, Any]], None]
ENGINES = ("local", "ray")
#: parts a worker of the local engine scores per task, at most
_SLICE_PARTS = 4


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

    def open(self, plan: PartPlan) -> PartEngine:
        """The engine of a run scored outside this process (see :attr:`processes`); a
        run in this process is scored by :func:`score_in_order`."""
        if self.kind == "ray":
            from modelward.serving.batch_ray import RayEngine

            return RayEngine(plan, self.workers, self.address)
        return ProcessEngine(plan, self.workers)


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


def score_in_order(
    scorer: PartScorer,
    parts: Iterable[ScoredPart],
    *,
    resumed: bool,
    on_done: OnDone,
    in_flight: int = 1,
) -> None:
    """Commit ``parts`` on a writer thread as they are drawn (and scored) on this one.

    Arrow writes Parquet without the GIL, so a part's log lines and file are encoded while
    the next part is read, checked and scored. Parts are committed one after another in
    their order, at most ``in_flight`` of them waiting for the writer: one, unless parts
    were scored ahead while the input was hashed (they are held already). Once a write
    fails, no later part is committed: the error is raised here, in its order.
    """
    failed = threading.Event()

    def commit(part: ScoredPart) -> dict[str, Any]:
        if failed.is_set():
            raise _After()
        try:
            return scorer.commit(part, dedupe_log=resumed)
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-writer") as writer:
        written: deque[Future[dict[str, Any]]] = deque()
        try:
            for part in parts:
                while written and (len(written) >= in_flight or written[0].done()):
                    on_done(written.popleft().result())  # a write's error is raised here
                written.append(writer.submit(commit, part))
            while written:
                on_done(written.popleft().result())
        finally:
            failed.set()  # an error here: what is still queued is not written


class _After(Exception):
    """A part queued behind a write that failed (that write's error is the one raised)."""


def scored(scorer: PartScorer, parts: Iterable[tuple[int, pa.Table]]) -> Iterator[ScoredPart]:
    """``parts`` scored one by one, as they are drawn."""
    for index, table in parts:
        yield scorer.prepare(index, table)


_worker: PartScorer | None = None

#: what a task tells a worker started before the run had an id: (run id, its folder)
Run = tuple[str, Path]

#: what a worker imports to score a part, whatever the model: the fork server imports it
#: once, and every worker forked from it starts with it imported
_SCORING_MODULES = (
    "modelward.serving.batch_engines",
    "modelward.serving.batch_parts",
    "modelward.serving.models",
    "modelward.session",
    "modelward.monitoring",
    "pyarrow.parquet",
)


def _worker_context(plan: PartPlan) -> multiprocessing.context.BaseContext:
    """``forkserver`` where the platform has one, else ``spawn``.

    A spawned worker imports modelward and the model's library itself (about 3 CPU
    seconds), and the run's process is held while it does: the pool's start writes the
    worker's initial arguments (the plan, a pickled model among them) into a pipe that
    the worker reads only as its imports allow, so two workers started one after the
    other, and the input's hash waited for both. Forked from a server that imported the
    scoring code and the model's library once, a worker starts in milliseconds and
    shares those pages with the others. The server itself is started clean (not forked
    from this process), so no lock of this process is inherited half-held either.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # read once, when this process starts its server (later pools reuse it); a module
    # that cannot be imported there is left to each worker, as under spawn. "__main__"
    # (multiprocessing's own default): a worker re-imports the main script (the modelward
    # command's, with the CLI behind it) unless its server has
    context.set_forkserver_preload(["__main__", *_SCORING_MODULES, *_model_modules(plan)])
    return context


def _model_modules(plan: PartPlan) -> list[str]:
    """The library the pinned model's object is unpickled with (MLflow's loader else)."""
    if plan.resolved.obj is not None:
        module = type(plan.resolved.obj).__module__
        # a class of the caller's script cannot be imported by its name elsewhere
        return [] if module in ("__main__", "builtins") else [module]
    return ["mlflow"] if plan.loader is None else []


def _start_worker(plan: PartPlan) -> None:
    global _worker
    _worker = PartScorer.open(plan)


def _scorer(run: Run) -> PartScorer:
    assert _worker is not None, "the worker's initializer did not run"
    parent = multiprocessing.parent_process()
    if parent is not None and not parent.is_alive():
        # the run's process was killed: a restarted run may be scoring these parts
        # already, and an orphan writing beside it could log a row twice. (A forked
        # worker's parent is the fork server; this asks about the run's process.)
        raise SystemExit(0)
    return _worker.for_run(*run)


def _score_in_worker(run: Run, index: int, table: pa.Table, dedupe: bool) -> list[dict[str, Any]]:
    return [_scorer(run).score_part(index, table, dedupe_log=dedupe)]


def _score_slice_in_worker(
    run: Run, source: BatchInput, indices: list[int], strings: frozenset[str], dedupe: bool
) -> list[dict[str, Any]]:
    """Parts ``indices`` read by this worker from the input itself (their row groups)."""
    scorer = _scorer(run)
    entries: list[dict[str, Any]] = []

    def parts() -> Iterator[tuple[int, pa.Table]]:
        for index in indices:
            _scorer(run)  # before each part: still the run's worker
            yield index, source.read_part(index, scorer.plan.batch_rows, strings)

    score_in_order(scorer, scored(scorer, parts()), resumed=dedupe, on_done=entries.append)
    return entries


class ProcessEngine:
    """Parts scored by a pool of worker processes, at most two tasks per worker in flight.

    The workers are started (:meth:`start`) as soon as the pinned model version is known,
    so their start-up (imports, the model load) overlaps the run's own set-up (the
    input's hash); the run's id and folder come with every task. An input that can be
    read by part (Parquet, a snapshot) is read by the workers themselves, each a slice of
    parts in a row: only part numbers and manifest entries travel between the processes.
    A CSV file or a query is read by the run's process, in order, and each part is sent.
    """

    def __init__(self, plan: PartPlan, workers: int) -> None:
        self.plan = plan
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> ProcessEngine:
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=_worker_context(self.plan),
            initializer=_start_worker,
            initargs=(self.plan,),
        )
        # the pool spawns a worker per task while none is idle: one no-op each starts
        # every worker now, not when the run's first parts are submitted
        for _ in range(self.workers):
            pool.submit(os.getpid)
        self._pool = pool
        return self

    def bind(self, plan: PartPlan) -> ProcessEngine:
        """The run the workers score for (its id and folder, known once the input is hashed)."""
        self.plan = plan
        return self

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _submit_all(self, tasks: Iterable[tuple[Any, ...]], on_done: OnDone) -> None:
        if self._pool is None:
            self.start()
        pool = self._pool
        assert pool is not None
        window = 2 * self.workers
        pending: set[Future[list[dict[str, Any]]]] = set()
        try:
            for task in tasks:
                while len(pending) >= window:
                    pending = _collect(pending, on_done)
                pending.add(pool.submit(*task))
            while pending:
                pending = _collect(pending, on_done)
        except BaseException:
            for future in pending:
                future.cancel()
            raise

    def run(self, parts: Iterator[tuple[int, pa.Table]], *, resumed: bool, on_done: OnDone) -> None:
        run = (self.plan.run_id, self.plan.work)
        tasks = ((_score_in_worker, run, index, table, resumed) for index, table in parts)
        self._submit_all(tasks, on_done)

    def run_indices(
        self,
        source: BatchInput,
        indices: list[int],
        strings: frozenset[str],
        *,
        resumed: bool,
        on_done: OnDone,
    ) -> None:
        """Score the parts numbered ``indices``, each worker reading its own slices."""
        if not indices:
            return
        run = (self.plan.run_id, self.plan.work)
        # a few parts per task: each worker overlaps its writes with its scoring over a
        # slice, and the slices stay small enough to share the tail of the run evenly
        size = max(1, min(_SLICE_PARTS, len(indices) // (4 * self.workers)))
        tasks = (
            (_score_slice_in_worker, run, source, indices[i : i + size], strings, resumed)
            for i in range(0, len(indices), size)
        )
        self._submit_all(tasks, on_done)


def _collect(
    pending: set[Future[list[dict[str, Any]]]], on_done: OnDone
) -> set[Future[list[dict[str, Any]]]]:
    done, rest = wait(pending, return_when=FIRST_COMPLETED)
    for future in done:
        for entry in future.result():  # a worker's error is raised here, in the run's process
            on_done(entry)
    return rest
