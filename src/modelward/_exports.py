"""How a context's public module re-exports names without importing them up front.

Each context's ``__init__.py`` is its one public module: it lists ``__all__``, imports the
names under ``TYPE_CHECKING`` (so type checkers and the import contracts see where they
come from) and resolves them on first use through :func:`lazy_exports`, so importing a
context stays cheap (``import modelward`` and ``modelward --help`` load no engine).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``.

    ``homes`` maps a public name to the module (relative to ``package``) defining it, or to
    ``"module:attr"`` when the public name differs from the one inside the module.

    >>> __getattr__, __dir__ = lazy_exports(__name__, {"get_version": "versions"})
    ... # doctest: +SKIP
    """

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = home.partition(":")
        return getattr(importlib.import_module(f"{package}.{module}"), attr or name)

    def __dir__() -> list[str]:
        return sorted(homes)

    return __getattr__, __dir__
