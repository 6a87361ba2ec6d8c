"""Helpers shared by the registry tests: git state, snapshots, quick tracked versions."""

from __future__ import annotations

import importlib
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.cli import main
from modelward.config import Workspace
from modelward.data import api as data
from modelward.data.snapshots import Snapshot
from modelward.registry import runs, versions
from modelward.security import identities
from modelward.security.roles import Principal, Role
from modelward.security.tokens import bootstrap_admin
from modelward.session import Session


def git_commit_all(root: Path) -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    if not (root / ".git").exists():
        git("init", "-q")
        (root / ".gitignore").write_text("mlflow.db\n.modelward/\n*.parquet\n")
    git("add", "-A")
    git("commit", "-q", "--allow-empty", "-m", "state")
    return git("rev-parse", "HEAD").strip()


def make_snapshot(
    session: Session, name: str = "customers", rows: int = 200, seed: int = 0
) -> Snapshot:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    path = session.workspace.root / f"{name}-{seed}.parquet"
    pq.write_table(pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y}), path)
    return data.snapshot(path, name=name, session=session)


def quick_version(
    session: Session,
    name: str,
    *,
    auc: float,
    train: Snapshot,
    evaluation: Snapshot | None = None,
    seed: int | None = 7,
    params: dict[str, object] | None = None,
) -> versions.ModelVersion:
    """A version with complete lineage and no trained model (a placeholder artifact)."""
    evaluation = evaluation or train
    with runs.run("train", split="random 80/20", seed=seed, session=session) as run:
        data.read(train.ref, session=session)
        run.log_params(params or {"max_depth": 3})
        run.log_metrics({"auc": auc}, dataset=evaluation.ref)
    placeholder = session.workspace.root / "artifacts" / run.run_id
    placeholder.mkdir(parents=True)
    return versions.register(session, name, run, model_uri=placeholder.as_uri())


def placeholder_version(session: Session, name: str = "churn") -> versions.ModelVersion:
    """A registered version with a placeholder artifact and no lineage: enough for an
    endpoint definition to refer to (definitions naming unknown models are refused)."""
    placeholder = session.workspace.root / "artifacts" / f"{name}-{uuid.uuid4().hex[:8]}"
    placeholder.mkdir(parents=True)
    return versions.register(session, name, model_uri=placeholder.as_uri())


def principal(session: Session, name: str, role: Role) -> Principal:
    with session.store.transaction() as conn:
        return identities.create_in(conn, "test-setup", name, role.value).principal()


def admin(session: Session) -> Principal:
    identity, _ = bootstrap_admin(session)
    return identity.principal()


# Third-party warnings raised while MLflow imports, which modelward cannot fix (pytest runs
# with warnings as errors). The lead may move these into pyproject's filterwarnings.
MLFLOW_WARNINGS = [
    # mlflow.store.*.sqlalchemy_store uses a loader strategy SQLAlchemy 2.1 deprecates
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
    ),
    # mlflow.types.responses infers schemas from its own `Any` hints at import
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]


def _wire() -> None:
    """Mount the CLI's groups (``main`` does it on first use; the tests that build the
    Typer app themselves need it done first)."""
    root = importlib.import_module("modelward.cli.app")
    root._register()


def cli(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    workspace: Workspace,
    *args: str,
) -> tuple[int, str, str]:
    """Run ``modelward ARGS`` in process against ``workspace``; (exit code, stdout, stderr)."""
    _wire()
    monkeypatch.setenv("MODELWARD_WORKSPACE", str(workspace.root))
    monkeypatch.setenv("MODELWARD_IDENTITY__USER", workspace.actor)
    if workspace.settings.store.url:
        monkeypatch.setenv("MODELWARD_DATABASE_URL", workspace.settings.store.url)
    else:
        monkeypatch.delenv("MODELWARD_DATABASE_URL", raising=False)
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err
