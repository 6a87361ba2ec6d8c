"""Registry context: model versions on MLflow, lineage, lifecycle stages, gates, approvals.

The notebook API is :func:`run` and :func:`register` (``mw.run``, ``mw.register``); the
rest takes an explicit :class:`~modelward.session.Session`. Submodules load on first use,
so importing this package imports neither MLflow nor SQLAlchemy tables.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelward.registry.runs import RunRecord, TrackedRun, run
    from modelward.registry.versions import (
        ModelVersion,
        discover_model,
        get_version,
        list_versions,
        sync,
    )
    from modelward.session import Session

__all__ = [
    "ModelVersion",
    "RunRecord",
    "TrackedRun",
    "discover_model",
    "get_version",
    "list_versions",
    "register",
    "run",
    "sync",
]


def register(
    name: str,
    run: TrackedRun | RunRecord | str | None = None,
    *,
    model_uri: str | None = None,
    session: Session | None = None,
) -> ModelVersion:
    """Register the model a ``mw.run`` logged (or ``model_uri``) as a new version of ``name``."""
    from modelward.registry import versions

    if session is None:
        from modelward.session import current_session

        session = current_session()
    return versions.register(session, name, run, model_uri=model_uri)


_LAZY = {
    "run": ("modelward.registry.runs", "run"),
    "TrackedRun": ("modelward.registry.runs", "TrackedRun"),
    "RunRecord": ("modelward.registry.runs", "RunRecord"),
    "ModelVersion": ("modelward.registry.versions", "ModelVersion"),
    "get_version": ("modelward.registry.versions", "get_version"),
    "list_versions": ("modelward.registry.versions", "list_versions"),
    "sync": ("modelward.registry.versions", "sync"),
    "discover_model": ("modelward.registry.versions", "discover_model"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'modelward.registry' has no attribute {name!r}")
