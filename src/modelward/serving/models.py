"""Model loading for the gateway: native flavors called directly, MLflow pyfunc otherwise.

A model is resolved (``NAME@stage`` -> name, version, artifact URI) by a
:class:`ModelResolver`, then loaded once per URI. scikit-learn, XGBoost and LightGBM models
are loaded through their MLflow flavor, which hands back the native object, and called
directly (``predict_proba``): the pyfunc wrapper costs more than a small model's
prediction. Any other flavor goes through ``mlflow.pyfunc``. What the model is fed — a
float matrix, or a DataFrame of the columns its signature names — is chosen at load from
its flavor and signature (:mod:`modelward.serving.feeds`). Every model is warmed up at load
so the first request pays nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelward.errors import InputError, NotFound
from modelward.serving.feeds import (
    Feed,
    ModelInput,
    array_input,
    choose_feed,
    declared_inputs,
    frame_input,
    signature_inputs,
    warm_up_rows,
)

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = [
    "LoadedModel",
    "MlflowModelLoader",
    "ModelLoader",
    "ModelResolver",
    "ObjectModelLoader",
    "RegistryModelResolver",
    "ResolvedModel",
    "StaticModelResolver",
    "load_object",
]

Predict = Callable[[Any], list[Any]]
_log = logging.getLogger("modelward.serving")


@dataclass(frozen=True)
class ResolvedModel:
    """A model reference pinned to a version and its artifact."""

    name: str
    version: str
    uri: str
    #: an already-loaded model object (tests, notebooks); ``uri`` is then informative only
    obj: Any = field(default=None, compare=False, repr=False)
    #: columns the data contracts of the version's training snapshots mark as PII
    pii: frozenset[str] = field(default=frozenset(), compare=False)


class ModelResolver(Protocol):
    """Turns ``NAME@stage`` / ``NAME@version`` into a pinned :class:`ResolvedModel`."""

    def resolve(self, ref: str) -> ResolvedModel:
        """The version ``ref`` points at now; :class:`NotFound` when there is none."""
        ...


class ModelLoader(Protocol):
    def load(self, model: ResolvedModel, output: str, columns: Sequence[str]) -> LoadedModel:
        """Load, wrap for ``output`` ("auto", "proba", "predict") and warm up."""
        ...


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    uri: str
    flavor: str
    #: the model's native input (see :attr:`feed`) -> one JSON-able output per row
    predict: Predict
    #: whether one call may score many rows (scikit-learn-API models do)
    accepts_batches: bool = True
    #: the input columns the model names (its signature, or ``feature_names_in_``), in its
    #: order; None: the model takes positional columns (the endpoint's order)
    inputs: tuple[ModelInput, ...] | None = None
    #: ``array``: a float matrix; ``frame``: a DataFrame of named, typed columns
    feed: Feed = "array"
    #: a native input the model scored at warm-up: re-scoring it tells a broken model
    #: from a row the model refuses (None: warm-up could not make one)
    probe: Any = field(default=None, compare=False, repr=False)
    #: the :class:`~modelward.serving.model_process.ModelProcess` it runs in, when the
    #: model is served from a worker process of its own (``[serving] isolation``)
    worker: Any = field(default=None, compare=False, repr=False)

    def input_builder(self, columns: Sequence[str]) -> Callable[[Sequence[Any]], Any]:
        """Rows -> this model's input, for an endpoint whose model columns are ``columns``."""
        if self.feed == "array":
            return array_input(columns)
        return frame_input(self.inputs or [ModelInput(c) for c in columns])


class StaticModelResolver:
    """A fixed mapping of references, the test double and the resolver for notebooks."""

    def __init__(self, models: dict[str, ResolvedModel]) -> None:
        self.models = models  # kept by reference: the owner may change it

    def resolve(self, ref: str) -> ResolvedModel:
        try:
            return self.models[ref]
        except KeyError:
            raise NotFound(f"model {ref!r} is not registered", model=ref) from None


class RegistryModelResolver:
    """Resolves through the registry context (its ``get_version``); used by ``serve``.

    Stages come from modelward's record, never from MLflow's mutable aliases, so a
    ``production`` alias moved with MLflow's own API cannot put an un-gated version in
    front of traffic. A version registered by plain MLflow code is found on the first
    poll after it exists (the registry asks MLflow when a lookup misses).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._pii: dict[tuple[str, str], frozenset[str]] = {}

    def resolve(self, ref: str) -> ResolvedModel:
        from modelward.registry import get_version

        mv = get_version(self.session, ref)
        key = (mv.model_name, str(mv.version))
        pii = self._pii.get(key)
        if pii is None:  # a version's lineage never changes: read its contracts once
            pii = self._pii[key] = _contract_pii(self.session, mv.lineage)
        return ResolvedModel(mv.model_name, str(mv.version), mv.model_uri, pii=pii)


def _contract_pii(session: Session, lineage: dict[str, Any]) -> frozenset[str]:
    """The columns marked ``pii: true`` in the contracts of the snapshots a version read."""
    from modelward.data import Contract, get_snapshot

    names: set[str] = set()
    for dataset in lineage.get("datasets") or []:
        try:
            contract = get_snapshot(session, str(dataset["snapshot_id"])).contract
        except (KeyError, NotFound):
            continue  # a snapshot pruned since: its contract cannot widen the set
        if contract:
            names.update(Contract.model_validate(contract).pii_columns)
    return frozenset(names)


def _wrap(obj: Any, output: str) -> Predict:
    """The call that turns a matrix into per-row outputs, chosen once at load."""
    proba = getattr(obj, "predict_proba", None)
    if output == "proba" and proba is None:
        raise InputError(
            f"output 'proba': the model ({type(obj).__name__}) has no predict_proba",
            field="output",
        )
    if proba is not None and output in ("auto", "proba"):
        classes = getattr(obj, "classes_", None)
        if classes is not None and len(classes) == 2:

            def positive(x: Any) -> list[Any]:
                out: list[Any] = proba(x)[:, 1].tolist()
                return out

            return positive

        def rows(x: Any) -> list[Any]:
            out: list[Any] = proba(x).tolist()
            return out

        return rows
    predict = obj.predict

    def plain(x: Any) -> list[Any]:
        out = predict(x)
        return out.tolist() if hasattr(out, "tolist") else list(out)

    return plain


def load_object(
    obj: Any, *, name: str, version: str, uri: str, output: str, columns: Sequence[str]
) -> LoadedModel:
    """Wrap an in-memory model object and warm it up (fed as :func:`choose_feed` says)."""
    inputs = declared_inputs(obj, None)
    model = LoadedModel(
        name,
        version,
        uri,
        "python",
        _wrap(obj, output),
        inputs=inputs,
        feed=choose_feed(obj, inputs, pyfunc=False),
    )
    return warm_up(model, columns)


def warm_up(model: LoadedModel, columns: Sequence[str], rounds: int = 3) -> LoadedModel:
    """A few calls on neutral rows, so lazy initialisation happens before the first request;
    the model with its :attr:`~LoadedModel.probe` set.

    A float matrix of zeros must score (a model that cannot is broken: the load fails). A
    DataFrame of zeros and empty strings may be refused by a sound model (an encoder that
    knows only its categories), so there the warm-up is best effort.
    """
    names = [i.name for i in model.inputs] if model.inputs else list(columns)
    if not names:
        return model
    build = model.input_builder(names)
    probe = None
    for n in (1, 8)[: 2 if model.accepts_batches else 1]:
        rows = warm_up_rows(model.inputs or [ModelInput(c) for c in names], n)
        native = build(rows)
        for _ in range(rounds):
            try:
                model.predict(native)
            except Exception as exc:
                if model.feed == "array":
                    raise
                _log.info("model %s@%s: warm-up skipped: %s", model.name, model.version, exc)
                return model
        if probe is None:
            probe = build(rows[:1])
    return replace(model, probe=probe)


class ObjectModelLoader:
    """Loads only in-memory objects (``ResolvedModel.obj``): the test and notebook double."""

    def load(self, model: ResolvedModel, output: str, columns: Sequence[str]) -> LoadedModel:
        if model.obj is None:
            raise NotFound(f"model {model.name}@{model.version} has no in-memory object")
        return load_object(
            model.obj,
            name=model.name,
            version=model.version,
            uri=model.uri,
            output=output,
            columns=columns,
        )


class MlflowModelLoader:
    """Loads MLflow models of the workspace's tracking store; native flavors when known.

    Without a session, model URIs are local MLflow model folders (a deployable bundle's).
    A model named in ``isolation`` (default: the workspace's ``[serving] isolation``) with
    ``"process"`` runs in a worker process, from a virtualenv of its own requirements built
    under ``environments`` (default ``.modelward/environments``): see
    :mod:`~modelward.serving.model_process`.
    """

    _NATIVE = ("sklearn", "xgboost", "lightgbm")

    def __init__(
        self,
        session: Session | None,
        *,
        isolation: Mapping[str, str] | None = None,
        environments: Path | None = None,
    ) -> None:
        self.session = session
        if isolation is None and session is not None:
            isolation = session.workspace.settings.serving.isolation
        self.isolation: Mapping[str, str] = isolation or {}
        if environments is None and session is not None:
            environments = session.workspace.home / "environments"
        self.environments = environments or Path(".modelward") / "environments"

    def load(self, model: ResolvedModel, output: str, columns: Sequence[str]) -> LoadedModel:
        if model.obj is not None:
            return load_object(
                model.obj,
                name=model.name,
                version=model.version,
                uri=model.uri,
                output=output,
                columns=columns,
            )
        import mlflow
        import yaml

        from modelward.registry import using_workspace

        if self.session is None:
            local = Path(model.uri)
        else:
            with using_workspace(self.session.workspace):
                local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model.uri))
        meta = yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8")) or {}
        flavors = meta.get("flavors") or {}
        signature = signature_inputs(meta)
        if self.isolation.get(model.name) == "process":
            from modelward.serving.model_process import load_in_process

            worker, call, inputs, feed = load_in_process(
                name=model.name,
                version=model.version,
                uri=model.uri,
                local=local,
                meta=meta,
                output=output,
                signature=signature,
                environments=self.environments,
            )
            isolated = LoadedModel(
                model.name,
                model.version,
                model.uri,
                "sklearn",
                call,
                inputs=inputs,
                feed=feed,
                worker=worker,
            )
            return warm_up(isolated, columns)
        for flavor in self._NATIVE:
            if flavor in flavors:
                module = __import__(f"mlflow.{flavor}", fromlist=["load_model"])
                obj = module.load_model(str(local))
                inputs = declared_inputs(obj, signature)
                loaded = LoadedModel(
                    model.name,
                    model.version,
                    model.uri,
                    flavor,
                    _wrap(obj, output),
                    inputs=inputs,
                    feed=choose_feed(obj, inputs, pyfunc=False),
                )
                break
        else:
            loaded = self._pyfunc(model, str(local), signature, _tensor_signature(meta))
        return warm_up(loaded, columns)

    @staticmethod
    def _pyfunc(
        model: ResolvedModel, local: str, signature: tuple[ModelInput, ...] | None, tensor: bool
    ) -> LoadedModel:
        import mlflow.pyfunc

        pyfunc = mlflow.pyfunc.load_model(local)

        def predict(x: Any) -> list[Any]:
            out = pyfunc.predict(x)
            out = getattr(out, "to_numpy", lambda: out)()  # a DataFrame or Series answer
            return out.tolist() if hasattr(out, "tolist") else list(out)

        return LoadedModel(
            model.name,
            model.version,
            model.uri,
            "pyfunc",
            predict,
            inputs=signature,
            # a tensor signature asks for an array; anything else takes a DataFrame
            feed="array" if tensor else choose_feed(None, signature, pyfunc=True),
        )


def _tensor_signature(meta: dict[str, Any]) -> bool:
    raw = str((meta.get("signature") or {}).get("inputs") or "")
    return '"tensor"' in raw
