"""Lineage records of model versions: what they hold, whether they are complete, diffs.

A record is a plain JSON document (stored with the version, immutable once registered).
A field that is ``None`` is *unknown*; an empty list is a known "none" (a model that used
no feature view). A version whose lineage has unknown items can be registered, but the
``lineage_complete`` gate refuses to promote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from modelward.data import content_hashes
from modelward.errors import InputError

__all__ = [
    "ITEMS",
    "LineageChange",
    "check_snapshots",
    "diff",
    "empty_record",
    "missing_items",
]

SCHEMA_VERSION = 1

#: every item a complete record has, as (label shown to people, test on the record)
ITEMS: tuple[str, ...] = (
    "model artifact",
    "dataset snapshots",
    "feature views",
    "hyperparameters",
    "metrics",
    "split logic and seed",
    "python version",
    "locked package versions",
    "git commit",
    "author",
)


def empty_record() -> dict[str, Any]:
    """A record where everything is unknown."""
    return {
        "schema": SCHEMA_VERSION,
        "source": None,
        "run_id": None,
        "model_artifact": None,
        "datasets": None,
        "feature_views": None,
        "params": None,
        "metrics": None,
        "evaluation": None,
        "split": None,
        "environment": {"python": None, "packages": None, "packages_hash": None},
        "git": {"commit": None, "dirty": None},
        "resources": None,
        "author": None,
        "pipeline_run": None,
    }


def _present(record: Mapping[str, Any], item: str) -> bool:
    env = record.get("environment") or {}
    git = record.get("git") or {}
    split = record.get("split") or {}
    match item:
        case "model artifact":
            return bool((record.get("model_artifact") or {}).get("uri"))
        case "dataset snapshots":
            datasets = record.get("datasets") or []
            return bool(datasets) and all(d.get("content_hash") for d in datasets)
        case "feature views":
            return record.get("feature_views") is not None
        case "hyperparameters":
            return bool(record.get("params"))
        case "metrics":
            return bool((record.get("metrics") or {}).get("overall"))
        case "split logic and seed":
            return bool(split.get("logic")) and split.get("seed") is not None
        case "python version":
            return bool(env.get("python"))
        case "locked package versions":
            return bool(env.get("packages")) and bool(env.get("packages_hash"))
        case "git commit":
            return bool(git.get("commit"))
        case "author":
            return bool(record.get("author"))
    raise ValueError(item)  # pragma: no cover - ITEMS is closed


def missing_items(record: Mapping[str, Any]) -> list[str]:
    """The items of :data:`ITEMS` the record does not answer, in order."""
    return [item for item in ITEMS if not _present(record, item)]


def check_snapshots(conn: Connection, record: Mapping[str, Any]) -> None:
    """Refuse a record naming a snapshot that was never taken (or with another hash)."""
    uses = list(record.get("datasets") or [])
    known = content_hashes(conn, (use.get("snapshot_id") for use in uses))
    for i, use in enumerate(uses):
        snapshot_id = use.get("snapshot_id")
        found = known.get(snapshot_id) if isinstance(snapshot_id, str) else None
        field = f"lineage.datasets[{i}]"
        if found is None:
            raise InputError(
                f"{field}.snapshot_id: snapshot {use.get('snapshot_id')!r} was never taken in "
                "this workspace; lineage may only name snapshots that exist",
                field=f"{field}.snapshot_id",
            )
        if found != use.get("content_hash"):
            raise InputError(
                f"{field}.content_hash: {use.get('content_hash')!r} is not the content hash of "
                f"snapshot {use.get('snapshot_id')!r} ({found})",
                field=f"{field}.content_hash",
            )


@dataclass(frozen=True)
class LineageChange:
    path: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


# large or volatile parts compared as a whole rather than key by key
_LEAF_KEYS = {"datasets", "feature_views"}
_IGNORED = {"resources", "run_id"}


def _walk(prefix: str, old: Any, new: Any, out: list[LineageChange]) -> None:
    if isinstance(old, dict) and isinstance(new, dict) and prefix not in _LEAF_KEYS:
        for key in sorted(set(old) | set(new)):
            if not prefix and key in _IGNORED:
                continue
            path = f"{prefix}.{key}" if prefix else key
            _walk(path, old.get(key), new.get(key), out)
    elif old != new:
        out.append(LineageChange(prefix, old, new))


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[LineageChange]:
    """What differs between two lineage records, as dotted paths (``params.max_depth``)."""
    out: list[LineageChange] = []
    _walk("", dict(old), dict(new), out)
    return out
