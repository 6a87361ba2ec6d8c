"""Where a feature's served values came from: the upstream a data pipeline incident names.

When drifting, important features also show a data quality anomaly, the alert rule calls
it a data pipeline incident (:mod:`~modelward.monitoring.alerts`). Whoever picks it up
needs the source, not only the feature: :func:`upstream_sources` finds, through the
features context's public reads, the feature view that serves each feature and its latest
succeeded materialization that finished before the window ended, and names what that run
read: a dataset snapshot (``snapshot:customers@4``) with its content hash, a file with its
fingerprint, or a SQL query. A feature no view serves is a request field: its upstream is
the caller, and it gets no entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["upstream_sources"]


def _short(digest: str | None) -> str:
    if not digest:
        return ""
    algorithm, _, hexdigest = digest.rpartition(":")
    return f" ({algorithm + ':' if algorithm else ''}{hexdigest[:12]})"


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _describe(view: str, runs: list[dict[str, Any]], before: datetime) -> str:
    for run in runs:  # newest first
        done = _when(run.get("finished_at"))
        if run.get("status") != "succeeded" or done is None or done >= before:
            continue
        source = run.get("source") or "an unrecorded source"
        return (
            f"feature view {view}, materialized from {source}{_short(run.get('source_hash'))} "
            f"by run {str(run['id'])[:8]} at {done:%Y-%m-%d %H:%M}"
        )
    return f"feature view {view}, not materialized before the window ended"


def upstream_sources(
    session: Session, features: Sequence[str], *, before: datetime
) -> dict[str, str]:
    """Per feature served by a feature view: which view, and the source of its latest
    materialization that finished before ``before`` (``"view:feature"`` or a bare feature
    name; the first view that has the feature answers a bare name)."""
    from modelward import features as catalog

    wanted: dict[str, tuple[str | None, str]] = {}
    for f in features:
        view, _, feature = f.rpartition(":")
        wanted[f] = (view or None, feature)
    found: dict[str, str] = {}
    if not wanted:
        return found
    for listed in catalog.list_views(session):
        name = str(listed["name"])
        hits = [
            f for f, (view, feature) in wanted.items() if f not in found and view in (None, name)
        ]
        if not hits:
            continue
        detail = catalog.show(name, session=session)
        served = {str(f.get("name")) for f in detail.get("features", []) if isinstance(f, dict)}
        described: str | None = None
        for f in hits:
            if wanted[f][1] in served:
                described = described or _describe(name, list(detail.get("runs", [])), before)
                found[f] = described
    return found
