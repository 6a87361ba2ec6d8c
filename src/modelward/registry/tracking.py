"""Where MLflow keeps a workspace's runs, artifacts and registered models.

Embedded default: ``sqlite:///<root>/mlflow.db`` with artifacts under
``.modelward/mlartifacts``. The database sits at the workspace root on purpose: MLflow 3
defaults to ``sqlite:///mlflow.db`` in the current folder, so plain MLflow code run from
the workspace root lands in the same store with no configuration at all.

A new embedded store is a copy of a template database that MLflow migrated once per MLflow
version (kept in the user cache), so a new workspace does not pay MLflow's schema
migrations again; only the default experiment's artifact location is rewritten.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from modelward.config import Workspace
from modelward.errors import ConfigError

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "MLFLOW_DB",
    "artifact_root",
    "client",
    "ensure_store",
    "environ",
    "experiment_id",
    "is_embedded",
    "registry_uri",
    "tracking_uri",
    "using_workspace",
]

MLFLOW_DB = "mlflow.db"
_ARTIFACTS = "mlartifacts"
_ENV_CACHE = "MODELWARD_CACHE_DIR"
_PLACEHOLDER_ROOT = "/modelward-template-artifact-root"


def is_embedded(workspace: Workspace) -> bool:
    return not workspace.settings.mlflow.tracking_uri


def artifact_root(workspace: Workspace) -> Path:
    return workspace.home / _ARTIFACTS


def tracking_uri(workspace: Workspace) -> str:
    configured = workspace.settings.mlflow.tracking_uri
    if configured:
        if "://" not in configured and not configured.startswith("databricks"):
            raise ConfigError(
                "mlflow.tracking_uri: expected a URI such as http://mlflow.example:5000 or "
                "sqlite:///path/mlflow.db (leave it empty for the embedded store)",
                field="mlflow.tracking_uri",
            )
        return configured
    return f"sqlite:///{(workspace.root / MLFLOW_DB).resolve()}"


def registry_uri(workspace: Workspace) -> str:
    return workspace.settings.mlflow.registry_uri or tracking_uri(workspace)


def environ(workspace: Workspace) -> dict[str, str]:
    """Environment that points MLflow code in a child process at this workspace."""
    return {
        "MLFLOW_TRACKING_URI": tracking_uri(workspace),
        "MLFLOW_REGISTRY_URI": registry_uri(workspace),
        "MODELWARD_WORKSPACE": str(workspace.root),
    }


def _cache_dir() -> Path:
    base = os.environ.get(_ENV_CACHE) or os.environ.get("XDG_CACHE_HOME")
    return Path(base) / "modelward" if base else Path.home() / ".cache" / "modelward"


def _migrate_new(path: Path, artifact_root_path: str) -> None:
    """Let MLflow create and migrate an empty database at ``path`` (about a second)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store_cls: Any = SqlAlchemyStore  # untyped constructor
    store = store_cls(f"sqlite:///{path}", artifact_root_path)
    store.engine.dispose()


def _template() -> Path | None:
    """A migrated, empty MLflow database for the installed MLflow version (made once).

    ``None`` when the cache folder cannot be written; the caller then migrates in place.
    """
    import mlflow

    folder = _cache_dir() / "mlflow-templates"
    path = folder / f"mlflow-{mlflow.__version__}.db"
    if path.exists():
        return path
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{path}.lock"):
            if path.exists():
                return path
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".db.tmp")
            os.close(fd)
            os.unlink(tmp)
            try:
                _migrate_new(Path(tmp), _PLACEHOLDER_ROOT)
                os.replace(tmp, path)
            finally:
                Path(tmp).unlink(missing_ok=True)
    except OSError:
        return None
    return path


def ensure_store(workspace: Workspace) -> None:
    """Create the embedded MLflow database if it is missing (no-op for a tracking server)."""
    if not is_embedded(workspace):
        return
    db = workspace.root / MLFLOW_DB
    if db.exists():
        return
    artifacts = artifact_root(workspace)
    artifacts.mkdir(parents=True, exist_ok=True)
    with FileLock(str(workspace.home / "mlflow.db.lock")):
        if db.exists():
            return
        tmp = workspace.home / f".{MLFLOW_DB}.{os.getpid()}.tmp"
        try:
            template = _template()
            if template is None:
                _migrate_new(tmp, str(artifacts))
            else:
                shutil.copyfile(template, tmp)
                conn = sqlite3.connect(tmp)
                try:
                    with conn:
                        conn.execute(
                            "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                            (str(artifacts / "0"),),
                        )
                finally:
                    conn.close()
            os.replace(tmp, db)
        finally:
            tmp.unlink(missing_ok=True)


def client(workspace: Workspace) -> MlflowClient:
    """An MLflow client bound to the workspace's store, created on demand."""
    from mlflow import MlflowClient

    ensure_store(workspace)
    return MlflowClient(tracking_uri=tracking_uri(workspace), registry_uri=registry_uri(workspace))


def experiment_id(workspace: Workspace, name: str) -> str:
    """The id of experiment ``name``, created if needed.

    On the embedded store a new experiment's artifacts go under ``.modelward/mlartifacts``
    (MLflow alone would use ``./mlruns`` of whatever folder the process runs in).
    """
    import hashlib

    c = client(workspace)
    found = c.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None
    if is_embedded(workspace):
        folder = "exp-" + hashlib.sha256(name.encode()).hexdigest()[:16]
        location = str(artifact_root(workspace) / folder)
    from mlflow.exceptions import MlflowException

    try:
        return str(c.create_experiment(name, artifact_location=location))
    except MlflowException:
        # another process created it first
        again = c.get_experiment_by_name(name)
        if again is None:
            raise
        return str(again.experiment_id)


@contextmanager
def using_workspace(workspace: Workspace) -> Iterator[None]:
    """Point the fluent ``mlflow.*`` API at the workspace inside the block, then restore."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    ensure_store(workspace)
    # MLflow keeps the explicitly set URIs in module globals and mirrors them into the
    # environment; both are put back exactly as they were
    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    saved_tracking = tracking_utils._tracking_uri
    saved_registry = registry_utils._registry_uri
    mlflow.set_tracking_uri(tracking_uri(workspace))
    mlflow.set_registry_uri(registry_uri(workspace))
    try:
        yield
    finally:
        reset: Any = mlflow.set_tracking_uri  # None (unset) is accepted, not in its hints
        reset(saved_tracking)
        registry_utils._registry_uri = saved_registry
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
