"""The names of the segments log's objects, and which of them a reader counts.

A name says everything a reader needs, so one LIST of an endpoint's folder decides which
objects hold its rows, with no manifest to fetch and no footer to open::

    <ns>-<writer>-<seq>.parquet                         one written batch
    <ns>-<writer>-<seq>_<ns>-<writer>-<seq>.c.parquet   a compacted segment: the batches
                                                        of that writer, first to last seq

``ns`` is the writer's clock in nanoseconds (kept increasing per writer), ``writer`` a
random id per sink and process (two gateway workers never share one), ``seq`` the writer's
batch count. The part before ``.parquet`` (before ``_`` for a compacted segment) is the
*stem* of the rows' cursors (``<stem>/<row>``), so cursors sort in write order.

A compacted segment *covers* the batches of its writer whose seq lies in its range; a
reader skips covered batches that still exist (a compaction that stopped before its
deletes), so no row is counted twice. Files of the layout before writer ids
(``<ns>-<pid>-<n>.parquet``, ``....c.parquet`` naming its sources in its Parquet
metadata) still read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["Segment", "batch_name", "live_segments", "merged_name", "overlapping", "parse"]

_STEM = r"(\d{20})-([0-9a-f]{12})-(\d{9})"
_BATCH = re.compile(rf"^{_STEM}\.parquet$")
_MERGED = re.compile(rf"^{_STEM}_(\d{{20}})-\2-(\d{{9}})\.c\.parquet$")
_LEGACY = re.compile(r"^(\d{20}-\d{7}-\d{9})(\.c)?\.parquet$")


@dataclass(frozen=True)
class Segment:
    name: str
    #: the cursor stems of its first and last batch (equal for a batch)
    first: str
    last: str
    writer: str
    low: int
    high: int
    merged: bool
    legacy: bool = False


def batch_name(stem: str) -> str:
    return f"{stem}.parquet"


def merged_name(first: Segment, last: Segment) -> str:
    return f"{first.first}_{last.last}.c.parquet"


def parse(name: str) -> Segment | None:
    """The segment ``name`` names; ``None`` for anything else in the folder."""
    if m := _BATCH.match(name):
        stem = name.removesuffix(".parquet")
        return Segment(name, stem, stem, m[2], int(m[3]), int(m[3]), merged=False)
    if m := _MERGED.match(name):
        first, last = name.removesuffix(".c.parquet").split("_")
        return Segment(name, first, last, m[2], int(m[3]), int(m[5]), merged=True)
    if m := _LEGACY.match(name):
        # a legacy compacted file holds rows of later stems too: its last is unknown
        last = m[1] if m[2] is None else "~"
        return Segment(name, m[1], last, "", 0, 0, merged=m[2] is not None, legacy=True)
    return None


def live_segments(
    names: Iterable[str], legacy_sources: Callable[[str], list[str]]
) -> list[Segment]:
    """The segments whose rows a reader counts, in cursor order of their first row.

    ``legacy_sources`` reads the source list of a legacy compacted file (its footer).
    """
    segments = [s for s in map(parse, names) if s is not None]
    ranges: dict[str, list[tuple[int, int]]] = {}
    covered: set[str] = set()
    for s in segments:
        if s.merged and s.legacy:
            covered.update(legacy_sources(s.name))
        elif s.merged:
            ranges.setdefault(s.writer, []).append((s.low, s.high))
    live = [
        s
        for s in segments
        if s.name not in covered
        and (s.merged or not any(lo <= s.low <= hi for lo, hi in ranges.get(s.writer, ())))
    ]
    return sorted(live, key=lambda s: (s.first, s.name))


def overlapping(segments: list[Segment]) -> bool:
    """Whether the cursor ranges of consecutive segments interleave (two writers'
    compacted segments over the same minutes): the rows then need a sort by cursor."""
    last = ""
    for s in segments:
        if s.first <= last:
            return True
        last = max(last, s.last)
    return False
