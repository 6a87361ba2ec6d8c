"""Model loading for the gateway: native flavors called directly, MLflow pyfunc otherwise.

A model is resolved (``NAME@stage`` -> name, version, artifact URI) by a
:class:`ModelResolver`, then loaded once per URI. scikit-learn, XGBoost and LightGBM models
are loaded through their MLflow flavor, which hands back the native object, and called
directly (``predict_proba`` on a float matrix): the pyfunc wrapper's DataFrame conversion
costs more than a small model's prediction. Any other flavor goes through
``mlflow.pyfunc``. Every model is warmed up at load so the first request pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from modelward.errors import InputError, NotFound

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


@dataclass(frozen=True)
class ResolvedModel:
    """A model reference pinned to a version and its artifact."""

    name: str
    version: str
    uri: str
    #: an already-loaded model object (tests, notebooks); ``uri`` is then informative only
    obj: Any = field(default=None, compare=False, repr=False)


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
    #: float matrix (rows x columns) -> one JSON-able output per row
    predict: Predict
    #: whether one call may score many rows (scikit-learn-API models do)
    accepts_batches: bool = True


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
    """Resolves through the registry context (its ``get_version``); used by ``serve``."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def resolve(self, ref: str) -> ResolvedModel:
        from modelward.registry import get_version

        mv = get_version(self.session, ref)
        return ResolvedModel(mv.model_name, str(mv.version), mv.model_uri)


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
    """Wrap an in-memory model object and warm it up."""
    model = LoadedModel(name, version, uri, "python", _wrap(obj, output))
    warm_up(model, len(columns))
    return model


def warm_up(model: LoadedModel, width: int, rounds: int = 3) -> None:
    """A few calls on zeros, so lazy initialisation happens before the first request."""
    if width == 0:
        return
    for n in (1, 8)[: 2 if model.accepts_batches else 1]:
        for _ in range(rounds):
            model.predict(np.zeros((n, width)))


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
    """Loads MLflow models of the workspace's tracking store; native flavors when known."""

    _NATIVE = ("sklearn", "xgboost", "lightgbm")

    def __init__(self, session: Session) -> None:
        self.session = session

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

        with using_workspace(self.session.workspace):
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model.uri))
        meta = yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8")) or {}
        flavors = meta.get("flavors") or {}
        for flavor in self._NATIVE:
            if flavor in flavors:
                module = __import__(f"mlflow.{flavor}", fromlist=["load_model"])
                obj = module.load_model(str(local))
                loaded = LoadedModel(
                    model.name, model.version, model.uri, flavor, _wrap(obj, output)
                )
                break
        else:
            loaded = self._pyfunc(model, str(local), columns)
        warm_up(loaded, len(columns))
        return loaded

    @staticmethod
    def _pyfunc(model: ResolvedModel, local: str, columns: Sequence[str]) -> LoadedModel:
        import importlib

        import mlflow.pyfunc

        pd: Any = importlib.import_module("pandas")  # untyped

        pyfunc = mlflow.pyfunc.load_model(local)
        names = list(columns)

        def predict(x: Any) -> list[Any]:
            out = pyfunc.predict(pd.DataFrame(x, columns=names))
            return out.tolist() if hasattr(out, "tolist") else list(out)

        return LoadedModel(model.name, model.version, model.uri, "pyfunc", predict)
