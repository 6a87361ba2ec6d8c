"""Endpoint runtimes cached in the gateway and refreshed by version, never per request.

:meth:`EndpointCache.build` runs on a thread at start-up and then every poll interval: one
query for all endpoint rows (name, spec, ``config_version``) and one registry lookup per
model reference (so a stage change, e.g. a new Production version, is noticed too). Only an
endpoint whose config version or resolved model version changed is rebuilt: model loaded
(or reused from the cache by URI) and warmed up, schema compiled, batcher started. The
gateway then swaps the whole mapping in one assignment on the event loop; requests that
picked up the old runtime finish on it, and it is closed once its queue is drained.

If a refresh fails for an endpoint (the database is down, the model version was deleted,
its stored definition no longer validates), the last good runtime keeps serving and the
failure is counted, logged and named in ``/readyz``; the other endpoints load as usual. An
endpoint whose model cannot be resolved or loaded at all (an empty stage, a broken
artifact, a definition its model does not fit) still gets a runtime: one that answers every
request from its fallback, degraded with the reason, which ``/readyz`` reports too. A model
that failed to load is tried again after :data:`RETRY_LOAD_S`, not on every poll.

A release on an endpoint (rollout's plan, read once per refresh) adds a second warm runtime
for the candidate and a :class:`~modelward.serving.routing.Routing`; a plan that only moves
weights reuses both runtimes. A promoted release serves its candidate until the endpoint's
definition changes after it. When the plans cannot be read, the last ones stay in force.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelward.errors import ConfigError, ModelUnavailable
from modelward.rollout import EndpointPlan, Strategy, TrafficPlan
from modelward.serving.binding import UncheckedRows, model_columns, pii_fields, request_fields
from modelward.serving.endpoints import BrokenEndpoint, Endpoint, EndpointSpec
from modelward.serving.metrics import EndpointMetrics, GatewayMetrics
from modelward.serving.models import LoadedModel, ModelLoader, ModelResolver, ResolvedModel
from modelward.serving.routing import Routing
from modelward.serving.runtime import EndpointRuntime
from modelward.serving.schema import RequestSchema

if TYPE_CHECKING:
    from modelward.features import FeatureLookup

__all__ = ["RETRY_LOAD_S", "EndpointCache", "Sources"]

_log = logging.getLogger("modelward.serving")
#: seconds before a model version that failed to load is tried again
RETRY_LOAD_S = 30.0


@dataclass
class Sources:
    """What the gateway reads from the rest of the system, wired explicitly."""

    load_endpoints: Callable[[], list[Endpoint | BrokenEndpoint]]
    resolver: ModelResolver
    loader: ModelLoader
    #: the online feature lookup (built on first need); None: no feature store configured
    lookup: Callable[[], FeatureLookup] | None = None
    #: each endpoint's release plan (rollout's ``current_plans``); None: no releases
    load_plans: Callable[[], Mapping[str, EndpointPlan]] | None = None
    #: told ``(endpoint, release id, error)`` when a release's candidate cannot be loaded,
    #: so the release ends ``failed`` (rollout's ``fail``); None: only logged
    candidate_failed: Callable[[str, str, str], None] | None = None


class EndpointCache:
    def __init__(
        self, sources: Sources, metrics: GatewayMetrics, only: frozenset[str] | None = None
    ) -> None:
        self.sources = sources
        self.metrics = metrics
        self.only = only
        self.runtimes: dict[str, EndpointRuntime] = {}
        #: endpoints a release splits; swapped in together with ``runtimes``
        self.routings: dict[str, Routing] = {}
        #: what the last :meth:`build` made, for the gateway to swap in with the runtimes
        self.next_routings: dict[str, Routing] = {}
        self._plans: Mapping[str, EndpointPlan] = {}
        #: endpoints that could not be loaded yet, with the reason (for /readyz)
        self.failed: dict[str, str] = {}
        #: endpoints still served by their last good runtime because the newest definition
        #: or model could not be loaded, with the reason (a /readyz warning)
        self.stale: dict[str, str] = {}
        self._models: dict[tuple[str, str, str, tuple[str, ...]], LoadedModel] = {}
        #: model key -> (time.monotonic() of the next attempt, the load's error)
        self._load_failures: dict[tuple[str, str, str, tuple[str, ...]], tuple[float, str]] = {}
        self._lookup: FeatureLookup | None = None
        #: releases whose candidate failed to load and that were reported failed
        self._refused: set[str] = set()
        #: seconds spent loading (reading, deserialising, warming up) models so far
        self.load_s = 0.0

    def lookup(self) -> FeatureLookup | None:
        if self._lookup is None and self.sources.lookup is not None:
            self._lookup = self.sources.lookup()
        return self._lookup

    def _read_plans(self) -> Mapping[str, EndpointPlan]:
        if self.sources.load_plans is None:
            return {}
        try:
            self._plans = self.sources.load_plans()
        except Exception as exc:  # the database is down: the last plans stay in force
            self.metrics.reload_errors.labels("").inc()
            _log.warning("release plans could not be read, keeping the last ones: %s", exc)
        return self._plans

    def build(self) -> tuple[dict[str, EndpointRuntime], list[EndpointRuntime]]:
        """The next mapping and the runtimes it retires. Runs on a worker thread; the
        routings that go with the mapping are left in :attr:`next_routings`."""
        endpoints = self.sources.load_endpoints()
        plans = self._read_plans()
        current = self.runtimes
        fresh: dict[str, EndpointRuntime] = {}
        routings: dict[str, Routing] = {}
        failed: dict[str, str] = {}
        stale: dict[str, str] = {}
        for endpoint in endpoints:
            name = endpoint.name
            if self.only is not None and name not in self.only:
                continue
            old = current.get(name)
            old_routing = self.routings.get(name)
            try:
                if isinstance(endpoint, BrokenEndpoint):
                    raise ConfigError(f"invalid stored definition: {endpoint.problem}")
                given = plans.get(name)
                plan = (
                    given.plan if given is not None and given.applies(endpoint.updated_at) else None
                )
                primary = self.sources.resolver.resolve(
                    plan.baseline if plan is not None else endpoint.spec.model
                )
                split = plan is not None and plan.strategy is not Strategy.SINGLE
                candidate = (
                    self.sources.resolver.resolve(plan.candidate)
                    if plan is not None and split and plan.candidate
                    else None
                )
                fallback = endpoint.spec.fallback
                backup = (
                    self.sources.resolver.resolve(fallback.model)
                    if fallback is not None and fallback.model is not None
                    else None
                )
                versions = (primary.version, backup.version if backup else None)
                reuse = (
                    old is not None
                    and old.config_version == endpoint.config_version
                    and old.loaded_versions == versions
                )
                loaded = not reuse or old is None
                fresh[name] = (
                    old
                    if not loaded and old is not None
                    else self._runtime(endpoint, primary, backup)
                )
                if candidate is not None and plan is not None:
                    warm = (
                        old_routing.candidate
                        if not loaded
                        and old_routing is not None
                        and old_routing.candidate_version == candidate.version
                        else self._candidate_runtime(endpoint, plan, candidate, backup)
                    )
                    if warm is not None:  # weights moved, or a new candidate loaded and warm
                        routings[name] = self._routing(endpoint, plan, warm)
                        loaded = loaded or old_routing is None or warm is not old_routing.candidate
                if not loaded:
                    continue
                self.metrics.reloads.labels(name).inc()
                _log.info(
                    "endpoint %s loaded: config version %d, model %s@%s%s",
                    name,
                    endpoint.config_version,
                    primary.name,
                    primary.version,
                    f", candidate {candidate.name}@{candidate.version}"
                    if name in routings and candidate is not None
                    else "",
                )
            except Exception as exc:
                self.metrics.reload_errors.labels(name).inc()
                reason = f"{type(exc).__name__}: {exc}"
                if old is not None and old.unavailable is None:
                    fresh[name] = old
                    if old_routing is not None:
                        routings[name] = old_routing
                    stale[name] = f"serving config version {old.config_version}: {reason}"
                    _log.warning("endpoint %s: refresh failed, still serving: %s", name, reason)
                    continue
                failed[name] = reason
                if isinstance(endpoint, BrokenEndpoint):  # no definition to take a fallback from
                    if self.failed.get(name) != reason:
                        _log.error("endpoint %s: cannot be loaded: %s", name, reason)
                    continue
                if self.failed.get(name) != reason:  # once per new reason, not every poll
                    _log.error(
                        "endpoint %s: cannot be loaded, serving its fallback: %s", name, reason
                    )
                if (
                    old is not None
                    and old.config_version == endpoint.config_version
                    and old.unavailable == reason
                ):
                    fresh[name] = old
                    continue
                try:
                    fresh[name] = self._unavailable(endpoint, reason)
                except Exception as fb_exc:  # the fallback model cannot load either
                    failed[name] = f"{reason}; fallback: {type(fb_exc).__name__}: {fb_exc}"
        self.failed = failed
        self.next_routings = routings
        kept = {id(r.candidate) for r in routings.values()}
        self.stale = stale
        retired = [rt for name, rt in current.items() if fresh.get(name) is not rt]
        retired += [r.candidate for r in self.routings.values() if id(r.candidate) not in kept]
        return fresh, retired

    def _candidate_runtime(
        self,
        endpoint: Endpoint,
        plan: TrafficPlan,
        candidate: ResolvedModel,
        backup: ResolvedModel | None,
    ) -> EndpointRuntime | None:
        """The candidate's runtime, loaded and warmed up before its plan may route to it;
        None when it cannot be: the release is reported failed (once) and the baseline
        keeps answering everything, as if the release had never started."""
        try:
            return self._runtime(endpoint, candidate, backup)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            self.metrics.reload_errors.labels(endpoint.name).inc()
            if plan.release_id not in self._refused:
                _log.error(
                    "endpoint %s: candidate %s@%s of release %s cannot be loaded, the "
                    "baseline keeps all traffic: %s",
                    endpoint.name,
                    candidate.name,
                    candidate.version,
                    plan.release_id,
                    reason,
                )
                report = self.sources.candidate_failed
                try:
                    if report is not None:
                        report(endpoint.name, plan.release_id, reason)
                except Exception as report_exc:  # the database is down: report it next poll
                    _log.warning(
                        "release %s could not be marked failed: %s", plan.release_id, report_exc
                    )
                else:
                    self._refused.add(plan.release_id)
            return None

    @staticmethod
    def _routing(endpoint: Endpoint, plan: TrafficPlan, candidate: EndpointRuntime) -> Routing:
        keys = endpoint.spec.entity_keys
        return Routing(plan, candidate, keys[0] if keys else None)

    def _model(self, resolved: ResolvedModel, output: str, columns: list[str]) -> LoadedModel:
        key = (resolved.uri, resolved.version, output, tuple(columns))
        model = self._models.get(key)
        if model is None:
            failed = self._load_failures.get(key)
            if failed is not None and time.monotonic() < failed[0]:
                raise ModelUnavailable(failed[1], model=f"{resolved.name}@{resolved.version}")
            began = time.perf_counter()
            try:
                model = self.sources.loader.load(resolved, output, columns)
            except Exception as exc:
                why = f"model {resolved.name}@{resolved.version} failed to load: {exc}"
                self._load_failures[key] = (time.monotonic() + RETRY_LOAD_S, why)
                raise ModelUnavailable(why, model=f"{resolved.name}@{resolved.version}") from None
            finally:
                self.load_s += time.perf_counter() - began
            self._load_failures.pop(key, None)
            self._models[key] = model
        return model

    def _features(self, spec: EndpointSpec) -> tuple[FeatureLookup | None, list[str]]:
        lookup = self.lookup() if spec.feature_refs else None
        if spec.feature_refs and lookup is None:
            raise ConfigError(
                f"endpoint {spec.name!r} reads online features, but the gateway has no "
                "feature store ([features] definitions and online store)",
                endpoint=spec.name,
            )
        feature_names: list[str] = []
        if lookup is not None:
            for selection in lookup.catalog.select(spec.feature_refs):
                feature_names.extend(n for n in selection.names if n not in feature_names)
        return lookup, feature_names

    def _runtime(
        self, endpoint: Endpoint, primary: ResolvedModel, backup: ResolvedModel | None
    ) -> EndpointRuntime:
        spec = endpoint.spec
        lookup, feature_names = self._features(spec)
        contract_pii = primary.pii | (backup.pii if backup else frozenset())
        # what a positional model is fed (a model that names its inputs ignores it)
        hint = (
            model_columns(
                spec, spec.request, feature_names, pii=pii_fields(spec, spec.request, contract_pii)
            )
            if isinstance(spec.request, dict)
            else list(feature_names)
        )
        model = self._model(primary, spec.output, hint)
        request = request_fields(spec, model, feature_names)
        pii = pii_fields(spec, request, contract_pii)
        columns = model_columns(spec, request, feature_names, model, pii)
        fallback_model = self._model(backup, spec.output, columns) if backup else None
        fallback_columns = (
            model_columns(spec, request, feature_names, fallback_model, pii)
            if fallback_model is not None
            else None
        )
        return EndpointRuntime(
            spec=spec,
            config_version=endpoint.config_version,
            model=model,
            columns=columns,
            schema=RequestSchema(spec.name, request, spec.max_rows),
            lookup=lookup,
            feature_names=feature_names,
            fallback_model=fallback_model,
            fallback_columns=fallback_columns,
            pii_fields=pii,
            loaded_versions=(primary.version, backup.version if backup else None),
            observe_batch=self._observer(spec.name),
        )

    def _unavailable(self, endpoint: Endpoint, reason: str) -> EndpointRuntime:
        """A runtime whose every answer is the fallback (degraded, ``reason``)."""
        spec = endpoint.spec
        lookup, feature_names = self._features(spec)
        backup = None
        fallback_model = None
        if spec.fallback is not None and spec.fallback.model is not None:
            backup = self.sources.resolver.resolve(spec.fallback.model)
        request = dict(spec.request) if isinstance(spec.request, dict) else None
        columns: list[str] = []  # nothing is fed to a model that is not there
        if backup is not None:
            hint = (
                model_columns(spec, request, feature_names)
                if request is not None
                else list(feature_names)
            )
            fallback_model = self._model(backup, spec.output, hint)
            if request is None and fallback_model.inputs is not None:
                request = request_fields(spec, fallback_model, feature_names)
            columns = model_columns(
                spec,
                request or {},
                feature_names,
                fallback_model,
                pii_fields(spec, request or {}, backup.pii),
            )
        name = spec.model.split("@", 1)[0]
        return EndpointRuntime(
            spec=spec,
            config_version=endpoint.config_version,
            model=LoadedModel(name, "", "", "unavailable", _no_model),
            columns=columns,
            schema=(
                RequestSchema(spec.name, request, spec.max_rows)
                if request is not None
                else UncheckedRows(spec.name, spec.max_rows)
            ),
            lookup=lookup,
            feature_names=feature_names,
            fallback_model=fallback_model,
            unavailable=reason,
            pii_fields=pii_fields(spec, request or {}, backup.pii if backup else ()),
            loaded_versions=("", backup.version if backup else None),
            observe_batch=self._observer(spec.name),
        )

    def _observer(self, endpoint: str) -> Callable[[LoadedModel, float, float, int], None]:
        bound: dict[str, EndpointMetrics] = {}
        metrics = self.metrics

        def observe(model: LoadedModel, features_s: float, model_s: float, rows: int) -> None:
            em = bound.get(model.version)
            if em is None:
                em = bound[model.version] = metrics.bind(endpoint, model.version)
            if features_s:
                em.features.observe(features_s)
            em.model.observe(model_s)
            em.batch.observe(rows)

        return observe


def _no_model(x: object) -> list[object]:
    raise ModelUnavailable("the endpoint's model is not loaded")
