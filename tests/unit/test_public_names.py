"""Every context's public surface is what its ``__all__`` says, checked from the modules.

Nothing here lists names by hand: the contexts are found by walking the package, and the
names come from each context's own ``__all__`` and from its public module (``api.py``).
So a context that grows a public function and forgets to export it, exports a name that
does not resolve, or has an ``api.py`` exporting something its package does not, fails.
"""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import modelward

CONTEXTS = sorted(m.name for m in pkgutil.iter_modules(modelward.__path__) if m.ispkg)


def _package(context: str) -> types.ModuleType:
    return importlib.import_module(f"modelward.{context}")


def _public_module(context: str) -> types.ModuleType | None:
    try:
        return importlib.import_module(f"modelward.{context}.api")
    except ModuleNotFoundError as exc:
        if exc.name != f"modelward.{context}.api":
            raise
        return None


def test_the_contexts_are_found() -> None:
    # the walk itself must see the contexts, or every test below passes vacuously
    assert {"config", "data", "features", "pipelines", "registry", "security", "serving"} <= set(
        CONTEXTS
    )


@pytest.mark.parametrize("context", CONTEXTS)
def test_every_exported_name_resolves(context: str) -> None:
    package = _package(context)
    exported = getattr(package, "__all__", None)
    assert exported is not None, f"modelward.{context} has no __all__"
    assert len(exported) == len(set(exported)), f"modelward.{context}.__all__ repeats a name"
    for name in exported:
        value = getattr(package, name)  # lazy names load here
        assert value is not None or name.isupper(), (context, name)


@pytest.mark.parametrize("context", CONTEXTS)
def test_the_public_module_exports_nothing_the_package_hides(context: str) -> None:
    api = _public_module(context)
    if api is None:
        pytest.skip(f"modelward.{context} has no api.py; its __init__ is its public module")
    assert hasattr(api, "__all__"), f"modelward.{context}.api has no __all__"
    package_names = set(_package(context).__all__)
    missing = sorted(set(api.__all__) - package_names)
    assert not missing, f"modelward.{context}.api exports {missing}, the package does not"


@pytest.mark.parametrize("context", CONTEXTS)
def test_every_public_definition_of_a_public_module_is_exported(context: str) -> None:
    """A function or class defined in the public module without a leading underscore is
    public; it must be in ``__all__`` (or renamed private)."""
    for module in filter(None, (_package(context), _public_module(context))):
        exported = set(getattr(module, "__all__", ()))
        defined = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and isinstance(value, type | types.FunctionType)
            and getattr(value, "__module__", None) == module.__name__
        }
        assert defined <= exported, (module.__name__, sorted(defined - exported))


@pytest.mark.parametrize("context", CONTEXTS)
def test_the_context_module_docstring_says_what_it_is(context: str) -> None:
    doc = _package(context).__doc__
    assert doc and doc.strip(), f"modelward.{context} has no module docstring"
