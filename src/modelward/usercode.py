"""Loading the user's own Python files: feature definitions, pipelines, example generators.

One loader, so every context names a file that fails to import the same way (an
:class:`~modelward.errors.InputError` naming the file and the exception, never a stack
trace) and registers it under a module name stable across processes (unlike ``hash()``),
so pipeline workers agree on it and dataclasses and pickling inside the file can find
their module.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from modelward.errors import InputError, ModelwardError

__all__ = ["load_module_file"]


def load_module_file(
    path: Path, *, prefix: str, what: str = "the module", reuse: bool = True
) -> ModuleType:
    """Import the Python file at ``path`` as ``<prefix><hash of its path>``.

    ``reuse=True`` returns the module already loaded under that name (workers, repeated
    lookups); ``reuse=False`` executes the file again, so an edited file is seen.
    ``what`` names the file's role in the error (``"the feature definitions"``).
    """
    path = path.resolve()
    name = prefix + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    if reuse and name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"{path}: cannot be loaded as a Python module", file=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except ModelwardError:
        sys.modules.pop(name, None)
        raise
    except Exception as exc:
        sys.modules.pop(name, None)
        raise InputError(
            f"{path}: loading {what} failed: {type(exc).__name__}: {exc}", file=str(path)
        ) from None
    return module
