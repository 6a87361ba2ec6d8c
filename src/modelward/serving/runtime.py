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
uses), builds the model's input once (a float matrix, or a DataFrame of the columns the
model names: chosen at load, see :mod:`~modelward.serving.feeds`) and makes one model call.

Rows fail alone. An entity without (fresh) features is left out of the model call and
comes back with its reason, for the gateway to answer from the fallback. When the batch's
lookup or model call raises while the dependency is sound (the store answers a probe; the
model scores its warm-up input), the batch is split in halves to find the rows it failed
on (:mod:`~modelward.serving.isolation`): their batch-mates are scored, and nothing is
counted against the breakers, which count the dependency's failures, not a caller's value.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelward.errors import InputError
from modelward.serving.batcher import BatcherClosed, LoopBatcher, MicroBatcher
from modelward.serving.endpoints import EndpointSpec
from modelward.serving.isolation import by_halves
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
    "RowFailed",
    "Scored",
]


Batcher = MicroBatcher | LoopBatcher
#: the key the store probe reads: no entity has it, any sound store answers "missing"
_PROBE_KEY = ("modelward_readyz", ["probe"])


class ModelFailed(Exception):
    """The model call raised, and the model is unsound; carries the original error's text."""


class FeatureStoreFailed(Exception):
    """The online store could not be read."""


class MissingFeatures(Exception):
    """An entity has no (fresh) feature values in the online store."""


class RowFailed(Exception):
    """One row could not be scored (its features or the model refused its values)."""


@dataclass(frozen=True, slots=True)
class Job:
    rows: list[dict[str, Any]]
    #: time.monotonic() after which the answer is no longer wanted
    deadline: float


@dataclass(frozen=True, slots=True)
class Scored:
    #: one per row; None where the row has a reason instead
    predictions: list[Any]
    #: request fields plus looked-up features per row, as the model saw them
    inputs: list[dict[str, Any]]
    features_s: float
    model_s: float
    batch_size: int
    #: per row, why it has no prediction (missing features, a refused value); None: all
    #: rows were scored
    reasons: list[str | None] | None = None


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError("the latency budget ran out while the model ran"))


def _partial(part: list[Any], rows: list[dict[str, Any]], scored: Scored) -> Scored | InputError:
    """One job's answer when some of its rows failed: a 422 if a row's own value was
    refused (an :class:`InputError`), else ``scored`` with each row's input and reason."""
    refused = next((r for r in part if isinstance(r, InputError)), None)
    if refused is not None:
        return refused
    reasons = [str(r) if isinstance(r, Exception) else None for r in part]
    return Scored(
        scored.predictions,
        [r if isinstance(r, dict) else rows[k] for k, r in enumerate(part)],
        scored.features_s,
        scored.model_s,
        scored.batch_size,
        reasons if any(reasons) else None,
    )


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


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
    #: the fallback model's columns, when it names other inputs than the primary
    fallback_columns: list[str] | None = None
    #: request fields redacted in the prediction log (and fed to a model only when its
    #: signature names them): ``pii_fields`` and what the data contracts mark as PII
    pii_fields: list[str] = field(default_factory=list)
    #: why the endpoint's model cannot serve (it could not be resolved or loaded): every
    #: request is answered by the fallback, degraded with this reason
    unavailable: str | None = None
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
        self._inputs = {id(self.model): self.model.input_builder(self.columns)}
        if self.fallback_model is not None:
            self._inputs[id(self.fallback_model)] = self.fallback_model.input_builder(
                self.fallback_columns or self.columns
            )
        #: per model, a native input it scored (its warm-up probe, else a real row's)
        self._known_good: dict[int, Any] = {
            id(m): m.probe for m in (self.model, self.fallback_model) if m is not None
        }
        spec = self.spec
        size = spec.max_batch if spec.batching and self.model.accepts_batches else 1
        models: list[tuple[LoadedModel | None, str]] = [
            (None if self.unavailable else self.model, name)
        ]
        if self.fallback_model is not None:
            models.append((self.fallback_model, f"{name}-fb"))
        made: list[Batcher | None] = []
        for model, label in models:
            if model is None:
                made.append(None)
            elif spec.isolate_model:
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
        :class:`FeatureStoreFailed`, :class:`ModelFailed` or :class:`InputError` for the
        whole request; a row that failed alone has its reason in :attr:`Scored.reasons`."""
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
        # per row: the row as the model sees it, or why it has none (an Exception)
        outcome: list[Any] = rows
        clean = True  # no row has failed: the common case takes the short path below
        features_s = 0.0
        if self.uses_features:
            t0 = time.perf_counter()
            reader = threading.get_ident()
            self._reading_features.add(reader)  # set add/discard: atomic under the GIL
            try:
                outcome, clean = self._with_features(rows)
            except FeatureStoreFailed as failure:
                for i in live:
                    results[i] = failure
                return results
            finally:
                self._reading_features.discard(reader)
            features_s = time.perf_counter() - t0
        ready = (
            range(len(rows))
            if clean
            else [j for j, row in enumerate(outcome) if not isinstance(row, Exception)]
        )
        predictions: list[Any] = [None] * len(rows)
        t1 = time.perf_counter()
        if ready:
            try:
                answers, scored_all = self._call(
                    model, outcome if clean else [outcome[j] for j in ready]
                )
            except ModelFailed as failure:
                for i in live:
                    results[i] = failure
                return results
            if clean and scored_all:
                predictions = answers
            else:
                outcome = list(outcome)
                clean = False
                for j, answer in zip(ready, answers, strict=True):
                    if isinstance(answer, Exception):
                        outcome[j] = answer
                    else:
                        predictions[j] = answer
        model_s = time.perf_counter() - t1
        if ready and self.observe_batch is not None:
            self.observe_batch(model, features_s, model_s, len(ready))
        start = 0
        size = len(ready)
        for i in live:
            n = len(jobs[i].rows)
            end = start + n
            if clean:
                results[i] = Scored(
                    predictions[start:end], outcome[start:end], features_s, model_s, size
                )
            else:
                results[i] = _partial(
                    outcome[start:end],
                    rows[start:end],
                    Scored(predictions[start:end], [], features_s, model_s, size),
                )
            start = end
        return results

    def _call(self, model: LoadedModel, rows: list[dict[str, Any]]) -> tuple[list[Any], bool]:
        """One model call for ``rows``: per row its output, or a :class:`RowFailed` for a
        row the (sound) model refused, and whether every row was scored;
        :class:`ModelFailed` when the model is unsound."""
        build = self._inputs[id(model)]
        try:
            native = build(rows)
            out = model.predict(native)
        except Exception as exc:
            if not self._model_sound(model):
                raise ModelFailed(_why(exc)) from None

            def attempt(lo: int, hi: int) -> list[Any]:
                return model.predict(build(rows[lo:hi]))

            found = by_halves(len(rows), attempt, exc)
            return [
                RowFailed(f"model failed on this row: {_why(r)}") if isinstance(r, Exception) else r
                for r in found
            ], False
        if self._known_good.get(id(model)) is None:  # once: what tells a sound model later
            self._known_good[id(model)] = build(rows[:1])
        return out, True

    def _model_sound(self, model: LoadedModel) -> bool:
        """Whether the model still scores an input it scored before (unknown: unsound)."""
        known = self._known_good.get(id(model))
        if known is None:
            return False
        try:
            model.predict(known)
        except Exception:
            return False
        return True

    def _with_features(self, rows: list[dict[str, Any]]) -> tuple[list[Any], bool]:
        """Per row: the row with its features, or why it has none (an Exception); and
        whether every row has its features."""
        try:
            merged = self._merge(rows)
        except Exception as exc:
            if not isinstance(exc, InputError) and not self._store_answers():
                raise FeatureStoreFailed(_why(exc)) from None
            found = by_halves(len(rows), lambda lo, hi: self._merge(rows[lo:hi]), exc)
        else:
            return merged, not any(isinstance(r, Exception) for r in merged)
        keys = self.spec.entity_keys
        return [
            r
            if not isinstance(r, Exception) or isinstance(r, (InputError, MissingFeatures))
            else RowFailed(
                f"the feature lookup failed for "
                f"{', '.join(f'{k}={rows[j].get(k)!r}' for k in keys)}: {_why(r)}"
            )
            for j, r in enumerate(found)
        ], False

    def _store_answers(self) -> bool:
        """Whether the online store answers a read (then a failed lookup is the rows')."""
        assert self.lookup is not None
        try:
            self.lookup.store.read(*_PROBE_KEY)
        except Exception:
            return False
        return True

    def _merge(self, rows: list[dict[str, Any]]) -> list[Any]:
        """One lookup for ``rows``; raises if the lookup does (the caller isolates)."""
        assert self.lookup is not None
        spec = self.spec
        keys = spec.entity_keys
        entities = {k: [r[k] for r in rows] for k in keys}
        request_fields = [f for f in self.schema.fields if f not in keys]
        request = {f: [r[f] for r in rows] for f in request_fields} or None
        result = self.lookup.get(entities, spec.feature_refs, request=request)
        names = self.feature_names
        columns = [result.columns[n] for n in names]
        merged: list[Any] = []
        for j, row in enumerate(rows):
            values = [col[j] for col in columns]
            if any(v is None for v in values):
                missing = [n for n, v in zip(names, values, strict=True) if v is None]
                where = ", ".join(f"{k}={row[k]!r}" for k in keys)
                merged.append(
                    MissingFeatures(f"no online value of {', '.join(missing)} for {where}")
                )
            else:
                merged.append({**row, **dict(zip(names, values, strict=True))})
        return merged
