"""The ``examples/churn`` project of a source checkout, copied into a workspace.

Its feature definitions, contracts and pipeline are the files a user would write; the
data comes from :func:`modelward.examples.churn.write_churn_data`. The project is committed
to git, as a user's would be, so the lineage of what it trains is complete.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from modelward.errors import InputError
from modelward.examples.churn import write_churn_data

__all__ = ["ENDPOINT_FILE", "commit_workspace", "example_dir", "prepare_example"]

_FILES = (
    "features.py",
    "pipelines.py",
    "contracts/activity.yaml",
    "contracts/labels.yaml",
    "churn-endpoint.yaml",
)
#: the example's endpoint definition, copied beside the project (``endpoints create``)
ENDPOINT_FILE = "churn-endpoint.yaml"


def example_dir() -> Path:
    """The ``examples/churn`` project of a source checkout."""
    found = Path(__file__).resolve().parents[3] / "examples" / "churn"
    if not (found / "pipelines.py").is_file():
        raise InputError(
            f"{found}: the churn example project is not here; run from a source checkout",
            path=str(found),
        )
    return found


def prepare_example(
    root: Path, *, months: int = 12, customers: int = 3_000, commit: bool = True
) -> str | None:
    """Copy the example project (with its endpoint definition) into the workspace at
    ``root`` and write its data.

    With ``commit``, the workspace becomes a git repository and its code is committed, so
    what the pipeline registers has complete lineage (the git commit is one of its items)
    and passes the lineage gate on its own. Returns the commit, or None without git.
    """
    source = example_dir()
    for rel in _FILES:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target)
    write_churn_data(root / "data", customers=customers, months=months)
    return commit_workspace(root) if commit else None


#: what a workspace keeps out of git: its stores and data live in snapshots, not in commits
_GITIGNORE = "mlflow.db\n.modelward/\ndata/\n__pycache__/\n"


def commit_workspace(root: Path) -> str | None:
    """``git init`` the workspace if needed and commit its files; the HEAD commit.

    A second call with nothing changed makes no commit. None when git is not installed
    (the quickstart then says why its champion needs an override).
    """
    import subprocess

    def git(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=check, timeout=60
        )

    try:
        if not (root / ".git").exists():
            git("init", "-q")
    except (OSError, subprocess.CalledProcessError):
        return None
    _ignore(root / ".gitignore", _GITIGNORE.splitlines())
    git("add", "-A")
    if git("diff", "--cached", "--quiet", check=False).returncode != 0:
        # a machine without a git identity still gets a commit, named for what made it
        who = (
            []
            if git("config", "user.email", check=False).stdout.strip()
            else [
                "-c",
                "user.name=modelward quickstart",
                "-c",
                "user.email=quickstart@modelward.invalid",
            ]
        )
        git(*who, "commit", "-q", "-m", "modelward quickstart: the churn example project")
    return git("rev-parse", "HEAD").stdout.strip()


def _ignore(ignore: Path, patterns: list[str]) -> None:
    """Add the ``patterns`` ``ignore`` lacks, keeping its own lines: ``init_workspace``
    writes a ``.gitignore`` of its own first, and a user may have one."""
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
    missing = [p for p in patterns if p not in lines]
    if missing:
        ignore.write_text("\n".join([*lines, *missing]) + "\n", encoding="utf-8")
