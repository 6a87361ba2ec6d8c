"""What differs between two JSON values, leaf by leaf, as dotted paths.

The registry's lineage diff (``models lineage --against``) and ``reproduce`` (recorded vs
reproduced metrics) both ask it; each decides what a difference means to it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

__all__ = ["json_changes"]


def json_changes(
    old: Any,
    new: Any,
    *,
    path: str = "",
    into_lists: bool = False,
    leaves: Collection[str] = (),
    skip: Collection[str] = (),
) -> list[tuple[str, Any, Any]]:
    """``(path, old, new)`` for every leaf where ``old`` and ``new`` differ, in path order.

    Objects are walked key by key (a missing key reads as ``None``); lists of the same
    length element by element when ``into_lists``, else compared whole. ``leaves`` are
    paths compared whole; ``skip`` paths are not compared at all.

    >>> json_changes({"params": {"depth": 3, "lr": 0.1}}, {"params": {"depth": 4, "lr": 0.1}})
    [('params.depth', 3, 4)]
    """
    out: list[tuple[str, Any, Any]] = []
    _walk(path, old, new, out, into_lists, frozenset(leaves), frozenset(skip))
    return out


def _walk(
    path: str,
    old: Any,
    new: Any,
    out: list[tuple[str, Any, Any]],
    into_lists: bool,
    leaves: frozenset[str],
    skip: frozenset[str],
) -> None:
    if path in skip:
        return
    if isinstance(old, dict) and isinstance(new, dict) and path not in leaves:
        for key in sorted(set(old) | set(new), key=str):
            child = f"{path}.{key}" if path else str(key)
            _walk(child, old.get(key), new.get(key), out, into_lists, leaves, skip)
    elif (
        into_lists
        and isinstance(old, list)
        and isinstance(new, list)
        and len(old) == len(new)
        and path not in leaves
    ):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            _walk(f"{path}[{i}]", a, b, out, into_lists, leaves, skip)
    elif old != new:
        out.append((path, old, new))
