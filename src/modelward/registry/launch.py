"""What ``modelward run`` starts: ``python -m modelward.registry.launch SCRIPT|-m MOD [ARGS]``.

It runs the user's script unchanged, as ``__main__``, after one process-scoped step that
MLflow offers no configuration for: when the script imports ``mlflow.sklearn``,
``log_model``/``save_model`` calls that leave ``skops_trusted_types`` unset get the types of
*that model* which are in :data:`~modelward.registry.serialization.TRUSTED_INTERNALS`
(tree node storage, XGBoost's booster) and nothing else. The format stays skops (never
pickle); a model with any other untrusted type is still refused by MLflow.

Why not in plain ``python train.py``: MLflow checks trusted types while saving, before any
plugin entry point is consulted, and only the ``log_model`` arguments can widen the list.
Doing this for every Python process in the environment (a ``.pth`` file or a plugin that
patches on import) would silently change MLflow for code outside any workspace; the
launcher does it only for the process a user started with ``modelward run``.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import importlib.util
import runpy
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["main", "trusting_save"]

_TARGET = "mlflow.sklearn"


def trusting_save(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``mlflow.sklearn.log_model``/``save_model`` to fill in the narrow trusted list."""

    @functools.wraps(fn)
    def wrapper(sk_model: Any, *args: Any, **kwargs: Any) -> Any:
        fmt = kwargs.get("serialization_format")
        if kwargs.get("skops_trusted_types") is None and fmt in (None, "skops"):
            from modelward.registry.serialization import trusted_types_for

            try:
                trusted = trusted_types_for(sk_model)
            except Exception:
                trusted = []
            if trusted:
                kwargs["skops_trusted_types"] = trusted
        return fn(sk_model, *args, **kwargs)

    return wrapper


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        for name in ("log_model", "save_model"):
            setattr(module, name, trusting_save(getattr(module, name)))


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _TARGET:
            return None
        sys.meta_path.remove(self)  # one shot: the real finders locate the module
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        raise SystemExit("usage: python -m modelward.registry.launch (SCRIPT | -m MODULE) [ARGS]")
    if _TARGET not in sys.modules:
        sys.meta_path.insert(0, _Finder())
    if args[0] == "-m" and len(args) > 1:
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        return
    _run_script(Path(args[0]), args)


def _run_script(script: Path, argv: list[str]) -> None:
    """Run ``script`` as ``python script`` would: a real ``__main__`` module with its file.

    (``runpy.run_path`` keeps the launcher as ``sys.modules["__main__"]``, which breaks
    ``multiprocessing``'s spawn and pickling of functions the script defines.)
    """
    try:
        source = script.read_bytes()
    except OSError as exc:
        raise SystemExit(f"{script}: cannot open the script: {exc.strerror}") from None
    code = compile(source, str(script), "exec")
    module = ModuleType("__main__")
    module.__file__ = str(script)
    module.__dict__["__builtins__"] = __builtins__
    sys.argv = argv
    sys.path[0] = str(script.resolve().parent)
    sys.modules["__main__"] = module
    exec(code, module.__dict__)  # noqa: S102 - running the user's own script is the point


if __name__ == "__main__":
    main()
