"""Running one step: load the pipeline, read the inputs, call the function, store outputs.

:func:`execute` is what every executor runs in its worker (a local subprocess started as
``python -m modelward.pipelines.worker RESULT_FILE`` with the task on stdin, a Ray task,
or the calling process for the inline executor). A task is plain JSON: where the
pipeline is defined, which step, the parameter values, the input hashes, the workspace.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from modelward import usercode
from modelward.errors import InputError, ModelwardError
from modelward.pipelines.cache import ObjectStore, StoredValue
from modelward.pipelines.graph import Pipeline
from modelward.pipelines.steps import StepContext

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["execute", "load_module_file", "load_pipeline", "pipeline_ref"]


def load_module_file(path: Path, prefix: str = "modelward_user_pipelines_") -> ModuleType:
    """Import a pipelines file under a name stable across processes (so workers agree)."""
    return usercode.load_module_file(path, prefix=prefix, what="the pipelines")


def pipeline_ref(pipeline: Pipeline) -> dict[str, str]:
    """Where a worker finds ``pipeline`` again: its module (and file) and attribute name."""
    module = sys.modules.get(pipeline.module or "")
    attr = None
    if module is not None:
        attr = next((k for k, v in vars(module).items() if v is pipeline), None)
    if module is None or attr is None:
        raise InputError(
            f"pipeline {pipeline.name!r}: define it at module level (a global of an importable "
            "module or of the workspace's pipelines file) so worker processes can load it",
            pipeline=pipeline.name,
        )
    return {"module": module.__name__, "file": getattr(module, "__file__", "") or "", "attr": attr}


def load_pipeline(ref: Mapping[str, str]) -> Pipeline:
    module_name = ref["module"]
    module: ModuleType | None = sys.modules.get(module_name)
    if module is None and module_name != "__main__":
        with contextlib.suppress(ImportError):
            module = importlib.import_module(module_name)
    if module is None or module_name == "__main__":
        if not ref.get("file"):
            raise InputError(f"cannot load module {module_name!r} in the worker")
        module = load_module_file(Path(ref["file"]))
    found = getattr(module, ref["attr"], None)
    if not isinstance(found, Pipeline):
        raise InputError(f"{module_name}.{ref['attr']} is not a pipeline", pipeline=ref["attr"])
    return found


def _session_factory(task: Mapping[str, Any]) -> Any:
    def open_() -> Session:
        from modelward.config import Secrets, Settings, Workspace
        from modelward.session import Session

        ws = Workspace(
            root=Path(task["workspace"]["root"]),
            settings=Settings.model_validate(task["workspace"]["settings"]),
            secrets=Secrets.model_validate(task["workspace"].get("secrets") or {}),
        )
        return Session(ws)

    return open_


def execute(
    task: Mapping[str, Any], objects: ObjectStore, pipeline: Pipeline | None = None
) -> dict[str, Any]:
    """Run the task's step; returns ``{"ok", "outputs"}`` or ``{"ok": False, "error", ...}``."""
    ctx: StepContext | None = None
    try:
        pipe = pipeline if pipeline is not None else load_pipeline(task["ref"])
        step = pipe.step(task["step"])
        workdir = Path(tempfile.mkdtemp(prefix=f"mw-step-{step.name}-"))
        ctx = StepContext(
            run_id=task["run_id"],
            pipeline=pipe.name,
            step=step.name,
            workdir=workdir,
            trigger=task.get("trigger", "run"),
            stored_inputs=dict(task.get("inputs", {})),
            _session_factory=_session_factory(task),
        )
        kwargs: dict[str, Any] = {}
        for arg, binding in pipe.bindings[step.name].items():
            if binding.kind == "context":
                kwargs[arg] = ctx
            elif binding.kind == "param":
                kwargs[arg] = task["params"][arg]
            elif binding.kind == "output":
                kwargs[arg] = objects.get(StoredValue.from_dict(task["inputs"][arg]))
        values = step.split_outputs(step.fn(**kwargs))
        stored = {name: objects.put(v).to_dict() for name, v in values.items()}
        return {"ok": True, "outputs": stored}
    except Exception as exc:
        return {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
            "error_details": _details(exc),
        }
    finally:
        if ctx is not None:
            if ctx._session is not None:
                ctx._session.close()
            import shutil

            shutil.rmtree(ctx.workdir, ignore_errors=True)


def _details(exc: Exception) -> dict[str, Any] | None:
    if isinstance(exc, ModelwardError):
        details: dict[str, Any] = json.loads(json.dumps(exc.to_dict(), default=str))
        return details
    return None


def peak_memory_bytes() -> int | None:
    """This process's peak resident memory since it started its program (Linux VmHWM).

    ``ru_maxrss`` of a child also counts the parent's memory at the fork before ``exec``,
    so a worker reads its own high-water mark instead.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def extend_sys_path(entries: list[str]) -> None:
    for entry in reversed(entries):
        if entry not in sys.path:
            sys.path.insert(0, entry)


def run_task(task: Mapping[str, Any], result_path: Path) -> None:
    """Execute ``task`` in this process and write the result (and peak memory) atomically."""
    extend_sys_path(task.get("sys_path", []))
    objects = ObjectStore(Path(task["objects_dir"]), Path(task["tmp_dir"]))
    result = execute(task, objects)
    result["peak_memory_bytes"] = peak_memory_bytes()
    tmp = result_path.with_name(result_path.name + ".tmp")
    tmp.write_text(json.dumps(result, default=str), encoding="utf-8")
    os.replace(tmp, result_path)


def main(argv: list[str] | None = None) -> int:
    """``python -m modelward.pipelines.worker RESULT_FILE``; the task arrives on stdin."""
    args = sys.argv[1:] if argv is None else argv
    run_task(json.loads(sys.stdin.read()), Path(args[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
