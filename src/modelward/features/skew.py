"""Training-serving skew check: online values against the offline join at the same times.

``skew_check`` samples entities from the online store, takes each one's stored values and
their event time, recomputes the features with the offline point-in-time join at exactly
that time, and reports, per feature, how often the two disagree, with examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from modelward.data import connect, quote_ident
from modelward.errors import CheckFailed, InputError
from modelward.features.catalog import Catalog
from modelward.features.definitions import FeatureView
from modelward.features.offline import training_set
from modelward.features.online.base import OnlineStore
from modelward.features.packing import from_us, unpack
from modelward.features.sources import resolve_view_source, source_columns

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["SkewReport", "skew_check"]

_KEY_SEP = "\x1f"


@dataclass(frozen=True)
class SkewReport:
    view: str
    sampled: int
    threshold: float
    #: feature -> share of sampled entities whose online and offline values differ
    mismatch_rate: dict[str, float]
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(rate <= self.threshold for rate in self.mismatch_rate.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "sampled": self.sampled,
            "threshold": self.threshold,
            "passed": self.passed,
            "mismatch_rate": self.mismatch_rate,
            "examples": self.examples,
        }

    def raise_for_failure(self) -> None:
        """For promotion gates: a :class:`CheckFailed` when any feature is above the threshold."""
        if not self.passed:
            worst = max(self.mismatch_rate, key=lambda k: self.mismatch_rate[k])
            raise CheckFailed(
                f"feature view {self.view!r}: training-serving skew above {self.threshold:.2%}: "
                f"{worst} differs for {self.mismatch_rate[worst]:.2%} of {self.sampled} entities",
                **self.to_dict(),
            )


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def _spine(
    session: Session | None, view: FeatureView, keys: list[str], events: list[int]
) -> pa.Table:
    """Typed entity keys (parsed back from their store form) and the values' event times."""
    parts = [k.split(_KEY_SEP) if len(view.join_keys) > 1 else [k] for k in keys]
    raw = pa.table(
        {
            **{name: pa.array([p[i] for p in parts]) for i, name in enumerate(view.join_keys)},
            "event_timestamp": pa.array(events, pa.int64()).cast(pa.timestamp("us", "UTC")),
        }
    )
    con = connect(session.workspace.settings.data if session else None)
    try:
        types = source_columns(con, resolve_view_source(view, session), view.name)
        con.register("raw", raw)
        casts = ", ".join(
            f"CAST({quote_ident(k)} AS {types[k]}) AS {quote_ident(k)}" for k in view.join_keys
        )
        table: pa.Table = con.sql(f"SELECT {casts}, event_timestamp FROM raw").to_arrow_table()
    finally:
        con.close()
    return table


def skew_check(
    view: FeatureView,
    store: OnlineStore,
    *,
    sample: int = 100,
    threshold: float = 0.0,
    session: Session | None = None,
    max_examples: int = 5,
) -> SkewReport:
    """Compare ``sample`` entities' online values with the offline join at the same times."""
    if not isinstance(view, FeatureView):
        raise InputError(
            f"{view.name!r} is an on-demand view: it is computed on request, not stored; "
            "check its input views instead",
            view=view.name,
        )
    if sample < 1:
        raise InputError("--sample must be at least 1", field="sample")
    keys = store.keys(view.online_namespace, sample)
    records = [r for r in store.read(view.online_namespace, keys) if r is not None]
    names = view.feature_names
    if not records:
        return SkewReport(view.name, 0, threshold, dict.fromkeys(names, 0.0))
    dtypes = [f.dtype for f in view.features]
    online = [unpack(r.value, dtypes) for r in records]
    spine = _spine(session, view, [r.key for r in records], [r.event_us for r in records])
    with training_set(
        spine,
        [view],
        catalog=Catalog([view]),
        session=session,
        full_names=True,
        allow_duplicates=True,
    ) as ts:
        offline = ts.to_arrow()
    mismatches = dict.fromkeys(names, 0)
    examples: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for i, name in enumerate(names):
        column = offline.column(f"{view.name}__{name}").to_pylist()
        for row, (rec, off) in enumerate(zip(records, column, strict=True)):
            on = online[row][i]
            if not _same(on, off):
                mismatches[name] += 1
                if len(examples[name]) < max_examples:
                    if view.features[i].pii:  # values marked PII never reach a report
                        on, off = "<redacted>", "<redacted>"
                    examples[name].append(
                        {
                            "key": rec.key,
                            "at": from_us(rec.event_us).isoformat(),
                            "online": on,
                            "offline": off,
                        }
                    )
    n = len(records)
    return SkewReport(
        view.name,
        n,
        threshold,
        {k: v / n for k, v in mismatches.items()},
        {k: v for k, v in examples.items() if v},
    )
