"""What a training run ran on: Python, the locked package versions and their hash, git state.

modelward records the environment itself, so the model it logs to MLflow carries an explicit
requirements list and MLflow does not spend seconds inferring one per ``log_model``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Environment",
    "GitState",
    "capture",
    "distributions_of",
    "git_state",
    "locked_packages",
    "packages_hash",
]


@dataclass(frozen=True)
class GitState:
    commit: str | None
    dirty: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {"commit": self.commit, "dirty": self.dirty}


@dataclass(frozen=True)
class Environment:
    python: str
    packages: dict[str, str] = field(default_factory=dict)
    packages_hash: str = ""
    git: GitState = GitState(None, None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "python": self.python,
            "packages": dict(self.packages),
            "packages_hash": self.packages_hash,
        }


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def locked_packages() -> dict[str, str]:
    """Every installed distribution as ``{normalised name: version}``, sorted by name.

    Read once per process (scanning site-packages costs ~0.2 s); a process that installs
    packages while it trains is not a reproducible run anyway.
    """
    return dict(_scan())


@functools.cache
def _scan() -> tuple[tuple[str, str], ...]:
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(_normalise(name), dist.version)
    return tuple(sorted(found.items()))


@functools.cache
def distributions_of(top_level_module: str) -> tuple[str, ...]:
    """The distributions that provide an importable top-level module (cached)."""
    return tuple(importlib.metadata.packages_distributions().get(top_level_module, []))


def packages_hash(packages: dict[str, str]) -> str:
    """``sha256:<hex>`` of the sorted ``name==version`` lines: equal sets, equal hash."""
    lines = "\n".join(f"{n}=={v}" for n, v in sorted(packages.items()))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(root: Path) -> GitState:
    """The commit checked out at ``root`` and whether tracked or new files differ from it."""
    head = _git(root, "rev-parse", "HEAD")
    if head is None:
        return GitState(None, None)
    status = _git(root, "status", "--porcelain", "--untracked-files=normal")
    return GitState(head.strip(), None if status is None else bool(status.strip()))


def capture(root: Path) -> Environment:
    packages = locked_packages()
    return Environment(
        python=platform.python_version(),
        packages=packages,
        packages_hash=packages_hash(packages),
        git=git_state(root),
    )
