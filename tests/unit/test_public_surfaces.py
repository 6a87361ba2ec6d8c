"""Each context's public module (its ``__init__.py``) exports what it promises.

Other contexts import only these modules (the import contracts enforce that), so every
name in ``__all__`` must resolve, and none may share its name with a submodule: a name
that does would be read as the submodule by the import checker and, once the submodule
is loaded, by Python itself.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import modelward

#: every context, found by walking the package (a new context is checked without an edit here)
CONTEXTS = sorted(m.name for m in pkgutil.iter_modules(modelward.__path__) if m.ispkg)

#: no context imports the command line; its exported Typer ``app`` does shadow ``cli/app.py``
#: (so tests reach that module by ``importlib.import_module("modelward.cli.app")``)
SHADOW_EXEMPT = {"cli"}


@pytest.mark.parametrize("context", CONTEXTS)
def test_every_public_name_resolves(context: str) -> None:
    module = importlib.import_module(f"modelward.{context}")
    assert module.__all__, f"modelward.{context} exports nothing"
    assert len(set(module.__all__)) == len(module.__all__)
    missing = [n for n in module.__all__ if getattr(module, n, None) is None]
    assert not missing, f"modelward.{context} does not resolve {missing}"


@pytest.mark.parametrize("context", CONTEXTS)
def test_no_public_name_shadows_a_submodule(context: str) -> None:
    if context in SHADOW_EXEMPT:
        pytest.skip(f"modelward.{context} is imported by no other context")
    module = importlib.import_module(f"modelward.{context}")
    submodules = {m.name for m in pkgutil.iter_modules(module.__path__)}
    shadowed = sorted(submodules & set(module.__all__))
    assert not shadowed, f"modelward.{context} exports {shadowed}, which are also submodules"
