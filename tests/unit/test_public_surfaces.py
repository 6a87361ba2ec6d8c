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

CONTEXTS = [
    "config",
    "data",
    "examples",
    "features",
    "monitoring",
    "rollout",
    "pipelines",
    "registry",
    "security",
    "serving",
    "store",
]


@pytest.mark.parametrize("context", CONTEXTS)
def test_every_public_name_resolves(context: str) -> None:
    module = importlib.import_module(f"modelward.{context}")
    assert module.__all__, f"modelward.{context} exports nothing"
    assert len(set(module.__all__)) == len(module.__all__)
    missing = [n for n in module.__all__ if getattr(module, n, None) is None]
    assert not missing, f"modelward.{context} does not resolve {missing}"


@pytest.mark.parametrize("context", CONTEXTS)
def test_no_public_name_shadows_a_submodule(context: str) -> None:
    module = importlib.import_module(f"modelward.{context}")
    submodules = {m.name for m in pkgutil.iter_modules(module.__path__)}
    assert not submodules & set(module.__all__)
