"""The lineage seam: contexts note what a piece of training work read, a run collects it.

``data`` notes every snapshot read through it, ``features`` every feature view a training
set joined; ``registry``'s ``mw.run`` opens :func:`collecting` and attaches what was noted
to the run and the model version. The collector lives in a context variable, so threads
and asyncio tasks each see their own run. Nothing here imports another context.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DatasetUse",
    "FeatureViewUse",
    "LineageCollector",
    "active",
    "collecting",
    "note_dataset",
    "note_feature_view",
]


@dataclass(frozen=True)
class DatasetUse:
    snapshot_id: str
    name: str
    version: int
    content_hash: str


@dataclass(frozen=True)
class FeatureViewUse:
    name: str
    definition_hash: str
    #: content hashes of the sources the view was read from, when known
    source_hashes: tuple[str, ...] = ()


@dataclass
class LineageCollector:
    datasets: dict[str, DatasetUse] = field(default_factory=dict)
    feature_views: dict[str, FeatureViewUse] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "datasets": [vars(d) for d in self.datasets.values()],
            "feature_views": [
                {**vars(f), "source_hashes": list(f.source_hashes)}
                for f in self.feature_views.values()
            ],
        }


_active: contextvars.ContextVar[LineageCollector | None] = contextvars.ContextVar(
    "modelward_lineage", default=None
)


def active() -> LineageCollector | None:
    return _active.get()


@contextmanager
def collecting() -> Iterator[LineageCollector]:
    """Collect what is read inside the block (nested blocks collect separately)."""
    collector = LineageCollector()
    token = _active.set(collector)
    try:
        yield collector
    finally:
        _active.reset(token)


def note_dataset(use: DatasetUse) -> None:
    if (collector := _active.get()) is not None:
        collector.datasets[use.snapshot_id] = use


def note_feature_view(use: FeatureViewUse) -> None:
    if (collector := _active.get()) is not None:
        collector.feature_views[f"{use.name}:{use.definition_hash}"] = use
