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

#: the sha256 of the source a loaded module was executed from
_SOURCE_HASH = "__modelward_source_sha256__"


def load_module_file(
    path: Path, *, prefix: str, what: str = "the module", reuse: bool = True
) -> ModuleType:
    """Import the Python file at ``path`` as ``<prefix><hash of its path>``.

    ``reuse=True`` returns the module already loaded under that name (workers, repeated
    lookups) while the file's content is the one it was loaded from; an edited file is
    executed again, so a long-lived process (a notebook, the server's retraining loop)
    never runs or hashes yesterday's step code. ``reuse=False`` always executes it again.
    ``what`` names the file's role in the error (``"the feature definitions"``).
    """
    path = path.resolve()
    name = prefix + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read {what}: {exc.strerror or exc}", file=str(path)
        ) from None
    digest = hashlib.sha256(source).hexdigest()
    loaded = sys.modules.get(name)
    if reuse and loaded is not None and getattr(loaded, _SOURCE_HASH, None) == digest:
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"{path}: cannot be loaded as a Python module", file=str(path))
    module = importlib.util.module_from_spec(spec)
    setattr(module, _SOURCE_HASH, digest)
    sys.modules[name] = module
    try:
        # compiled from the bytes just read, not through the bytecode cache: a .pyc is
        # keyed by the file's mtime in whole seconds and its size, so an edit within the
        # same second that keeps the size would run the old code
        exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102
    except ModelwardError:
        sys.modules.pop(name, None)
        raise
    except Exception as exc:
        sys.modules.pop(name, None)
        raise InputError(
            f"{path}: loading {what} failed: {type(exc).__name__}: {exc}", file=str(path)
        ) from None
    return module
