"""One endpoint, ready to serve: its schema, model(s), features, breakers and batchers.

An :class:`EndpointRuntime` is built off the request path (at start-up or when the
endpoint's config version or model version changes) and is immutable afterwards, so a
request that picked it up finishes with it even if a newer one has been swapped in.

Where the model runs is the endpoint's choice (``isolate_model`` x ``batching``):

* ``isolate_model`` (the default): a :class:`~modelward.serving.batcher.MicroBatcher`
  thread scores every request already waiting in one call (one at a time when batching is
  off), and the deadline is enforced while the model runs: a hung model cannot stall the
  event loop;
* not isolated: on the event loop — a :class:`~modelward.serving.batcher.LoopBatcher` when
  batching, else inline — with no thread hop, the least CPU per request; a call that
  overran the budget is detected when it returns (the request gets the fallback, the
  breaker counts a failure). For models known to be fast.

The scoring function reads the online features of all rows in one lookup (the same
:class:`~modelward.features.FeatureLookup`, with the same on-demand transforms, as training
uses), builds one float matrix and makes one model call.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from modelward.errors import InputError
from modelward.serving.batcher import BatcherClosed, LoopBatcher, MicroBatcher
from modelward.serving.endpoints import EndpointSpec
from modelward.serving.models import LoadedModel
from modelward.serving.resilience import CircuitBreaker
from modelward.serving.schema import RequestSchema

if TYPE_CHECKING:
    from modelward.features import FeatureLookup

__all__ = [
    "EndpointRuntime",
    "FeatureStoreFailed",
    "Job",
    "MissingFeatures",
    "ModelFailed",
    "Scored",
    "model_columns",
]


Batcher = MicroBatcher | LoopBatcher


class ModelFailed(Exception):
    """The model call raised; carries the original error's text."""


class FeatureStoreFailed(Exception):
    """The online store could not be read."""


class MissingFeatures(Exception):
    """An entity has no (fresh) feature values in the online store."""


@dataclass(frozen=True, slots=True)
class Job:
    rows: list[dict[str, Any]]
    #: time.monotonic() after which the answer is no longer wanted
    deadline: float


@dataclass(frozen=True, slots=True)
class Scored:
    predictions: list[Any]
    #: request fields plus looked-up features per row, as the model saw them
    inputs: list[dict[str, Any]]
    features_s: float
    model_s: float
    batch_size: int


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError("the latency budget ran out while the model ran"))


def model_columns(spec: EndpointSpec, feature_names: Sequence[str]) -> list[str]:
    """The model's input columns: explicit, or non-key request fields then features."""
    if spec.model_inputs is not None:
        return list(spec.model_inputs)
    keys = set(spec.entity_keys)
    return [f for f in spec.request if f not in keys] + [
        f for f in feature_names if f not in spec.request
    ]


@dataclass
class EndpointRuntime:
    spec: EndpointSpec
    config_version: int
    model: LoadedModel
    columns: list[str]
    schema: RequestSchema
    lookup: FeatureLookup | None = None
    feature_names: list[str] = field(default_factory=list)
    fallback_model: LoadedModel | None = None
    model_breaker: CircuitBreaker = field(init=False)
    feature_breaker: CircuitBreaker = field(init=False)
    batcher: Batcher | None = field(init=False, default=None)
    fallback_batcher: Batcher | None = field(init=False, default=None)
    #: (spec.model resolved version, fallback resolved version): what was loaded
    loaded_versions: tuple[str, str | None] = ("", None)
    #: called once per model call (on the scoring thread) with the model, the feature fetch
    #: and model seconds and the rows scored: metrics per batch, not per request
    observe_batch: Callable[[LoadedModel, float, float, int], None] | None = None
    #: canonical request rows -> (expiry on time.monotonic(), answer); used when cache_ttl_s
    response_cache: dict[bytes, tuple[float, Scored]] = field(default_factory=dict)
    #: scoring threads reading the online store right now: a deadline that passes while
    #: one does is the store's fault (a hung Redis), not the model's
    _reading_features: set[int] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        name = self.spec.name
        self.model_breaker = CircuitBreaker(f"{name}:model")
        self.feature_breaker = CircuitBreaker(f"{name}:features")
        spec = self.spec
        size = spec.max_batch if spec.batching and self.model.accepts_batches else 1
        models = [(self.model, name)]
        if self.fallback_model is not None:
            models.append((self.fallback_model, f"{name}-fb"))
        made: list[Batcher | None] = []
        for model, label in models:
            if spec.isolate_model:
                made.append(MicroBatcher(self._scorer(model), max_batch=size, name=label))
            elif size > 1:
                made.append(LoopBatcher(self._scorer(model), max_batch=size))
            else:
                made.append(None)  # inline: no batching, no thread
        self.batcher = made[0]
        self.fallback_batcher = made[1] if len(made) > 1 else None

    def _scorer(self, model: LoadedModel) -> Callable[[Sequence[Job]], list[Any]]:
        return lambda jobs: self.score(model, jobs)

    @property
    def uses_features(self) -> bool:
        return self.lookup is not None and bool(self.spec.feature_refs)

    @property
    def reading_features(self) -> bool:
        """Whether a scoring thread is waiting on the online store now."""
        return bool(self._reading_features)

    def close(self) -> None:
        """Score what is queued, then stop the worker threads."""
        for batcher in (self.batcher, self.fallback_batcher):
            if batcher is not None:
                batcher.close()

    async def predict(
        self, rows: list[dict[str, Any]], budget_s: float, *, fallback: bool = False
    ) -> Scored:
        """Features and model for ``rows`` within ``budget_s``; raises :class:`TimeoutError`,
        :class:`FeatureStoreFailed`, :class:`MissingFeatures` or :class:`ModelFailed`."""
        model = self.fallback_model if fallback else self.model
        batcher = self.fallback_batcher if fallback else self.batcher
        assert model is not None
        deadline = time.monotonic() + budget_s
        future = None
        if batcher is not None:
            try:
                future = batcher.submit(Job(rows, deadline))
            except BatcherClosed:  # a newer runtime replaced this one mid-request: score here
                future = None
        if future is None:
            result = self.score(model, [Job(rows, deadline)])[0]
            if isinstance(result, BaseException):
                raise result
            scored: Scored = result
        elif isinstance(batcher, MicroBatcher):
            # one timer that fails the future at the deadline (cheaper than asyncio.timeout,
            # which cancels and un-cancels the task); a late result is then dropped
            loop = asyncio.get_running_loop()
            timer = loop.call_at(loop.time() + budget_s, _expire, future)
            try:
                scored = await future
            finally:
                timer.cancel()
            return scored
        else:  # on the loop: the wait is at most one loop turn; the model cannot be cut short
            scored = await future
        if time.monotonic() > deadline:
            raise TimeoutError("the model call on the event loop overran the budget")
        return scored

    def score(self, model: LoadedModel, jobs: Sequence[Job]) -> list[Any]:
        """Runs on the batcher thread: features and one model call for every live job."""
        now = time.monotonic()
        results: list[Any] = [None] * len(jobs)
        live: list[int] = []
        rows: list[dict[str, Any]] = []
        for i, job in enumerate(jobs):
            if job.deadline <= now:  # its request already answered with the fallback
                results[i] = TimeoutError("deadline passed before scoring")
            else:
                live.append(i)
                rows.extend(job.rows)
        if not live:
            return results
        features_s = 0.0
        if self.uses_features:
            t0 = time.perf_counter()
            reader = threading.get_ident()
            self._reading_features.add(reader)  # set add/discard: atomic under the GIL
            try:
                rows = self._with_features(rows)
            except (MissingFeatures, InputError) as problem:
                # one request's entity or request values: only that request is answered so
                if len(live) == 1:
                    results[live[0]] = problem
                    return results
                return self._one_by_one(model, jobs, results, live)
            except Exception as exc:
                failure = FeatureStoreFailed(f"{type(exc).__name__}: {exc}")
                for i in live:
                    results[i] = failure
                return results
            finally:
                self._reading_features.discard(reader)
            features_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        try:
            columns = self.columns
            matrix = np.array([[row[c] for c in columns] for row in rows], dtype=np.float64)
            predictions = model.predict(matrix)
        except Exception as exc:
            failure_m = ModelFailed(f"{type(exc).__name__}: {exc}")
            for i in live:
                results[i] = failure_m
            return results
        model_s = time.perf_counter() - t1
        if self.observe_batch is not None:
            self.observe_batch(model, features_s, model_s, len(rows))
        start = 0
        size = len(rows)
        for i in live:
            n = len(jobs[i].rows)
            results[i] = Scored(
                predictions[start : start + n],
                rows[start : start + n],
                features_s,
                model_s,
                size,
            )
            start += n
        return results

    def _one_by_one(
        self, model: LoadedModel, jobs: Sequence[Job], results: list[Any], live: list[int]
    ) -> list[Any]:
        """Some entity lacks features: score each job alone so only its request falls back."""
        for i in live:
            try:
                results[i] = self.score(model, [jobs[i]])[0]
            except Exception as exc:  # pragma: no cover - score returns errors, never raises
                results[i] = exc
        return results

    def _with_features(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert self.lookup is not None
        spec = self.spec
        entities = {k: [r[k] for r in rows] for k in spec.entity_keys}
        request_fields = [f for f in spec.request if f not in spec.entity_keys]
        request = {f: [r[f] for r in rows] for f in request_fields} or None
        result = self.lookup.get(entities, spec.feature_refs, request=request)
        names = self.feature_names
        columns = [result.columns[n] for n in names]
        merged = []
        for j, row in enumerate(rows):
            values = [col[j] for col in columns]
            if any(v is None for v in values):
                missing = [n for n, v in zip(names, values, strict=True) if v is None]
                keys = ", ".join(f"{k}={row[k]!r}" for k in spec.entity_keys)
                raise MissingFeatures(f"no online value of {', '.join(missing)} for {keys}")
            merged.append({**row, **dict(zip(names, values, strict=True))})
        return merged
