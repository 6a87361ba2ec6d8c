"""modelward: from notebook to a production ML system people can trust.

>>> import modelward as mw
>>> mw.data.snapshot("customers.parquet", name="customers")  # doctest: +SKIP

Sub-packages load on first use, so ``import modelward`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "data", "features", "open_session", "register", "run"]

if TYPE_CHECKING:
    from modelward import data, features
    from modelward.registry import register, run
    from modelward.session import open_session

_LAZY_MODULES = {"data", "features", "registry", "security", "store", "config"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f"modelward.{name}")
    if name in ("run", "register"):
        return getattr(importlib.import_module("modelward.registry"), name)
    if name == "open_session":
        from modelward.session import open_session

        return open_session
    raise AttributeError(f"module 'modelward' has no attribute {name!r}")
