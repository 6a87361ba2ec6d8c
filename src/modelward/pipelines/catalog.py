"""The workspace's pipelines: every module-level :class:`Pipeline` in ``[pipelines] module``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from modelward.errors import InputError, NotFound
from modelward.pipelines.graph import Pipeline
from modelward.pipelines.worker import load_module_file

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["find_pipeline", "load_pipelines"]


def load_pipelines(session: Session, path: str | Path | None = None) -> dict[str, Pipeline]:
    """``{name: pipeline}`` from the workspace's pipelines module (or ``path``)."""
    target = Path(path or session.workspace.settings.pipelines.module)
    if not target.is_absolute():
        target = session.workspace.root / target
    if not target.is_file():
        raise InputError(
            f"{target}: pipelines module not found; set [pipelines] module in modelward.toml "
            "to the Python file that defines them",
            file=str(target),
        )
    module = load_module_file(target)
    found: dict[str, Pipeline] = {}
    for value in vars(module).values():
        if isinstance(value, Pipeline):
            found.setdefault(value.name, value)
    return found


def find_pipeline(session: Session, name: str) -> Pipeline:
    pipelines = load_pipelines(session)
    if name not in pipelines:
        known = ", ".join(sorted(pipelines)) or "none"
        raise NotFound(f"no pipeline named {name!r}; defined: {known}", pipeline=name)
    return pipelines[name]
