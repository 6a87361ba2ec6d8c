"""The point-in-time join against a brute-force reference, on random data.

The grid of times is small (minutes 0..8) and the keys few (0..2, rarely null), so that
matches, ties on event time, TTL edges (age exactly the TTL) and spine times before any
feature row are common, not rare; every example records which of them it reached, and
the test fails if a run reached any of them too seldom.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from modelward.features import Catalog, Entity, Feature, FeatureView, training_set

BASE = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]

keys = st.sampled_from([0, 1, 2, 0, 1, None])  # null keys (never matching) are rare
minutes = st.integers(min_value=0, max_value=8)
created_time = st.one_of(st.none(), minutes)  # created time; null loses a tie
values = st.tuples(
    st.one_of(st.none(), st.integers(-5, 5)),
    st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=32)),
)
feature_row = st.builds(
    lambda key, minute, created, vals: (key, minute, created, *vals),
    keys,
    st.one_of(minutes, minutes, minutes, st.none()),  # rows without an event time are ignored
    created_time,
    values,
)
spine_row = st.tuples(st.sampled_from([0, 1, 2, 3, None]), minutes)


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int | None]:
    """Feature rows, a spine aimed at them, and a TTL: edges by construction, not by luck.

    Some rows repeat another row's key and event time (a tie for the created time to
    decide); most spine rows sit on a feature row's time plus 0, 1, the TTL or the TTL
    plus one minute, for the key of that row; the rest fall anywhere.
    """
    ttl = draw(st.one_of(st.none(), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)))
    rows = draw(st.lists(feature_row, min_size=3, max_size=20))
    for _ in range(draw(st.integers(0, 3))):
        key, minute, *_ = draw(st.sampled_from(rows))
        rows.append((key, minute, draw(created_time), *draw(values)))
    anchors = [(r[0], r[1]) for r in rows if r[0] is not None and r[1] is not None]
    spine = []
    for _ in range(draw(st.integers(3, 12))):
        if anchors and draw(st.integers(0, 2)):
            key, minute = draw(st.sampled_from(anchors))
            offset = draw(st.sampled_from([0, 1, ttl or 2, (ttl or 2) + 1]))
            spine.append((key, minute + offset))
        else:
            spine.append(draw(spine_row))
    return _unambiguous(rows), spine, ttl


def _at(minute: int | None) -> datetime | None:
    return None if minute is None else BASE + timedelta(minutes=minute)


def _reference(
    rows: list[tuple[Any, ...]], spine: list[tuple[Any, ...]], ttl: timedelta | None
) -> list[tuple[Any, Any]]:
    out = []
    for key, minute in spine:
        t = _at(minute)
        assert t is not None
        cands = [
            r
            for r in rows
            if key is not None
            and r[0] == key
            and r[1] is not None
            and BASE + timedelta(minutes=r[1]) <= t
        ]
        if not cands:
            out.append((None, None))
            continue
        latest = max(r[1] for r in cands)
        tied = [r for r in cands if r[1] == latest]
        best = max(tied, key=lambda r: (r[2] is not None, r[2] if r[2] is not None else -1))
        if ttl is not None and t - _at(best[1]) > ttl:  # type: ignore[operator]
            out.append((None, None))
        else:
            out.append((best[3], best[4]))
    return out


def _unambiguous(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows sharing key, event time and created time have no defined winner: keep one."""
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for row in rows:
        ident = row[:3]
        if ident in seen:
            continue
        seen.add(ident)
        kept.append(row)
    return kept


def _outcomes(
    rows: list[tuple[Any, ...]], spine: list[tuple[Any, ...]], ttl: timedelta | None
) -> set[str]:
    """Which interesting cases the example reaches (for the counted check)."""
    seen: set[str] = set()
    for key, minute in spine:
        t = _at(minute)
        assert t is not None
        cands = [r for r in rows if key is not None and r[0] == key and r[1] is not None]
        before = [r for r in cands if r[1] <= minute]
        if not before:
            seen.add("no row at or before the spine time")
            continue
        latest = max(r[1] for r in before)
        if sum(1 for r in before if r[1] == latest) > 1:
            seen.add("a tie on event time")
        if latest == minute:
            seen.add("a row exactly at the spine time")
        age = t - _at(latest)  # type: ignore[operator]
        if ttl is not None and age == ttl:
            seen.add("age exactly the TTL")
        elif ttl is not None and age > ttl:
            seen.add("expired")
        else:
            seen.add("a match")
    return seen


OUTCOMES = (
    "a match",
    "a tie on event time",
    "a row exactly at the spine time",
    "age exactly the TTL",
    "expired",
    "no row at or before the spine time",
)


def test_join_matches_brute_force(tmp_path: Path) -> None:
    hit: Counter[str] = Counter()

    @settings(max_examples=60, deadline=None, database=None)
    @given(
        case=cases(),
        spine_zone=st.sampled_from(ZONES),
        naive_source=st.booleans(),
    )
    @example(  # age exactly the TTL, and one minute past it
        case=([(1, 2, 2, 7, 0.5)], [(1, 4), (1, 5)], 2),
        spine_zone="UTC",
        naive_source=False,
    )
    @example(  # a tie on event time decided by the created time; a null created time loses
        case=([(1, 3, None, 1, 1.0), (1, 3, 4, 2, 2.0), (1, 3, 2, 3, 3.0)], [(1, 3)], None),
        spine_zone="Pacific/Chatham",
        naive_source=True,
    )
    def check(
        case: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int | None],
        spine_zone: str,
        naive_source: bool,
    ) -> None:
        rows, spine, ttl_minutes = case
        source_tz = None if naive_source else "UTC"
        ts_type = pa.timestamp("us", tz=source_tz)

        def source_time(m: int | None) -> datetime | None:
            t = _at(m)
            return t.replace(tzinfo=None) if t is not None and naive_source else t

        path = tmp_path / f"src_{abs(hash((tuple(rows), naive_source)))}.parquet"
        pq.write_table(
            pa.table(
                {
                    "k": pa.array([r[0] for r in rows], pa.int64()),
                    "ts": pa.array([source_time(r[1]) for r in rows], ts_type),
                    "created": pa.array([source_time(r[2]) for r in rows], ts_type),
                    "n": pa.array([r[3] for r in rows], pa.int64()),
                    "x": pa.array([r[4] for r in rows], pa.float64()),
                }
            ),
            path,
        )
        ttl = timedelta(minutes=ttl_minutes) if ttl_minutes is not None else None
        view = FeatureView(
            "v",
            entities=[Entity("e", "k")],
            source=str(path),
            timestamp="ts",
            created_timestamp="created",
            features=[Feature("n", "int64"), Feature("x", "float64")],
            ttl=ttl,
        )
        zone = ZoneInfo(spine_zone)
        spine_table = pa.table(
            {
                "k": pa.array([k for k, _ in spine], pa.int64()),
                "event_timestamp": pa.array(
                    [_at(m).astimezone(zone) for _, m in spine],  # type: ignore[union-attr]
                    pa.timestamp("us", tz=spine_zone),
                ),
                "label": pa.array(range(len(spine)), pa.int64()),
            }
        )
        with training_set(
            spine_table, [view], catalog=Catalog([view]), allow_duplicates=True
        ) as ts:
            result = ts.to_arrow()
        assert result.num_rows == len(spine)  # never a dropped or repeated spine row
        assert result.column("label").to_pylist() == list(range(len(spine)))  # spine order
        got = list(zip(result.column("n").to_pylist(), result.column("x").to_pylist(), strict=True))
        assert got == _reference(rows, spine, ttl)

        for outcome in _outcomes(rows, spine, ttl):
            event(outcome)
            hit[outcome] += 1

    check()
    # the strategies really reach the cases the join must get right, several times each
    assert all(hit[o] >= 3 for o in OUTCOMES), dict(hit)
