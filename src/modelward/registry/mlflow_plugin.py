"""MLflow plugins: a run-context provider that tags every run started in a workspace.

Registered through MLflow's own entry point group (``mlflow.run_context_provider``), so
plain ``mlflow.start_run()`` in a workspace gets ``modelward.*`` tags (author, Python,
package-set hash, git commit and dirty flag) that modelward reads back as lineage. MLflow
loads this module only when it resolves run tags; it patches nothing and never raises:
a run outside a workspace gets no tags.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ModelwardRunContext"]


class ModelwardRunContext:
    """Duck-typed ``mlflow.tracking.context.abstract_context.RunContextProvider``."""

    def in_context(self) -> bool:
        return self._root() is not None

    def tags(self) -> dict[str, str]:
        root = self._root()
        if root is None:
            return {}
        try:
            from modelward.config import Workspace
            from modelward.registry import environment

            env = environment.capture(root)
            tags = {
                "modelward.workspace": str(root),
                "modelward.author": Workspace.open(root).actor,
                "modelward.env.python": env.python,
                "modelward.env.packages_hash": env.packages_hash,
            }
            if env.git.commit:
                tags["modelward.git.commit"] = env.git.commit
                tags["modelward.git.dirty"] = str(env.git.dirty)
            return tags
        except Exception:
            return {}

    @staticmethod
    def _root() -> Path | None:
        from modelward.config import CONFIG_FILE

        start = Path(os.environ.get("MODELWARD_WORKSPACE") or Path.cwd()).resolve()
        for candidate in (start, *start.parents):
            if (candidate / CONFIG_FILE).is_file():
                return candidate
        return None
