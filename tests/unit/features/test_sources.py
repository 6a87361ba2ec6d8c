"""A view's source as every reader sees it: which column types fit which declared type,
where a file path points, what fingerprint a file gets, and the rows ``view_relation`` and
``latest_relation`` select at their edges (equal event times, the range's two ends).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.config import Workspace
from modelward.data import connect
from modelward.errors import InputError
from modelward.features import Entity, Feature, FeatureView, SnapshotSource
from modelward.features.sources import (
    ResolvedSource,
    check_source,
    latest_relation,
    pinned_ref,
    resolve_view_source,
    source_columns,
    view_relation,
)
from modelward.session import Session
from tests.unit.features.support import hours, write_stats

FITS = {
    "int64": [
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "HUGEINT",
    ],
    "float64": [
        "FLOAT",
        "DOUBLE",
        "DECIMAL(4,1)",
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "HUGEINT",
    ],
    "string": ["VARCHAR"],
    "bool": ["BOOLEAN"],
    "timestamp": [
        "TIMESTAMP",
        "TIMESTAMPTZ",
        "TIMESTAMP_NS",
        "TIMESTAMP_MS",
        "TIMESTAMP_S",
        "DATE",
    ],
}
LITERAL = {
    "int64": "1",
    "float64": "1",
    "string": "'a'",
    "bool": "true",
    "timestamp": "'2024-01-01 00:00:00'",
}


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = connect(None)
    yield c
    c.close()


def _sql_view(select: str, feature: Feature, **kw: object) -> FeatureView:
    return FeatureView(
        "v",
        entities=[Entity("e", "id")],
        source=f"SELECT 1 AS id, TIMESTAMPTZ '2024-01-01 00:00:00+00' AS event_timestamp, {select}",
        features=[feature],
        **kw,  # type: ignore[arg-type]
    )


def _check(con: duckdb.DuckDBPyConnection, view: FeatureView) -> None:
    source = resolve_view_source(view, None)
    check_source(view, source_columns(con, source, view.name), source)


@pytest.mark.parametrize(
    ("dtype", "duck"), [(d, t) for d, types in FITS.items() for t in types], ids=str
)
def test_every_fitting_source_type_is_accepted_and_cast(
    con: duckdb.DuckDBPyConnection, dtype: str, duck: str
) -> None:
    literal = "1.5" if duck.startswith("DECIMAL") else LITERAL[dtype]
    view = _sql_view(f"CAST({literal} AS {duck}) AS x", Feature("x", dtype))  # type: ignore[arg-type]
    _check(con, view)
    source = resolve_view_source(view, None)
    got = con.sql(f"SELECT x FROM ({view_relation(view, source)})").to_arrow_table()
    expected = {"int64": pa.int64(), "float64": pa.float64(), "string": pa.string()}
    if dtype in expected:
        assert got.schema.field("x").type == expected[dtype]


@pytest.mark.parametrize(
    ("dtype", "duck"),
    [
        ("int64", "DOUBLE"),
        ("int64", "VARCHAR"),
        ("float64", "VARCHAR"),
        ("string", "INTEGER"),
        ("bool", "INTEGER"),
        ("timestamp", "VARCHAR"),
        ("timestamp", "INTEGER"),
    ],
)
def test_a_source_type_that_does_not_fit_is_refused(
    con: duckdb.DuckDBPyConnection, dtype: str, duck: str
) -> None:
    view = _sql_view(f"CAST(1 AS {duck}) AS x", Feature("x", dtype))  # type: ignore[arg-type]
    with pytest.raises(InputError) as info:
        _check(con, view)
    assert info.value.message == (
        f"feature view 'v': feature 'x' is declared {dtype} but the source column is {duck}"
    )
    assert info.value.details == {"view": "v", "column": "x"}


@pytest.mark.parametrize("role", ["timestamp", "created_timestamp"])
def test_event_and_created_times_must_be_timestamps(
    con: duckdb.DuckDBPyConnection, role: str
) -> None:
    columns = {"id": "INTEGER", "at": "TIMESTAMP", "made": "TIMESTAMP", "x": "BIGINT"}
    columns["at" if role == "timestamp" else "made"] = "VARCHAR"
    view = FeatureView(
        "v",
        entities=[Entity("e", "id")],
        source="t.parquet",
        timestamp="at",
        created_timestamp="made",
        features=[Feature("x", "int64")],
    )
    col = "at" if role == "timestamp" else "made"
    with pytest.raises(InputError) as info:
        check_source(view, columns, ResolvedSource("t", "t.parquet", None))
    assert info.value.message == (
        f"feature view 'v': column {col!r} must be a timestamp, but the source has VARCHAR"
    )
    assert info.value.details == {"view": "v", "column": col}
    # every timestamp kind fits either role
    for kind in FITS["timestamp"]:
        check_source(
            view,
            {**columns, col: kind.replace("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE")},
            ResolvedSource("t", "t.parquet", None),
        )


@pytest.mark.parametrize(
    ("lacking", "role"),
    [
        ("id", "join key"),
        ("at", "event timestamp"),
        ("made", "created timestamp"),
        ("x", "feature"),
    ],
)
def test_a_missing_column_is_named_with_its_role(lacking: str, role: str) -> None:
    view = FeatureView(
        "v",
        entities=[Entity("e", "id")],
        source="t.parquet",
        timestamp="at",
        created_timestamp="made",
        features=[Feature("x", "int64")],
    )
    columns = {"id": "INTEGER", "at": "TIMESTAMP", "made": "TIMESTAMP", "x": "BIGINT"}
    del columns[lacking]
    with pytest.raises(InputError) as info:
        check_source(view, columns, ResolvedSource("t", "t.parquet", None))
    assert info.value.message == (
        f"feature view 'v': {role} column {lacking!r} is not in source t.parquet "
        f"(it has {', '.join(columns)})"
    )
    assert info.value.details == {"view": "v", "column": lacking}


def test_an_unreadable_source_is_refused_with_the_first_line_of_the_reason(
    con: duckdb.DuckDBPyConnection,
) -> None:
    source = ResolvedSource("(SELECT nope FROM nothing)", "sql:SELECT nope FROM nothing", None)
    with pytest.raises(InputError) as info:
        source_columns(con, source, "v")
    assert info.value.message.startswith(
        "feature view 'v': cannot read source sql:SELECT nope FROM nothing: Catalog Error: "
    )
    assert "\n" not in info.value.message
    assert info.value.details == {"view": "v"}


def _footer_digest(*paths: Path) -> str:
    """The documented fingerprint, from the file's bytes: size, NUL, footer and its tail."""
    digest = hashlib.sha256()
    for path in paths:
        data = path.read_bytes()
        tail = data[-8:]
        length = int.from_bytes(tail[:4], "little") if tail[4:] == b"PAR1" else 0
        digest.update(str(len(data)).encode() + b"\0" + data[max(0, len(data) - 8 - length) :])
    return f"parquet-footer:{digest.hexdigest()}"


def _parquet_view(source: str | Path) -> FeatureView:
    return FeatureView(
        "stats",
        entities=[Entity("driver", "driver_id")],
        source=str(source),
        features=[Feature("trips", "int64")],
    )


def test_a_parquet_file_is_named_and_fingerprinted_by_its_footer(tmp_path: Path) -> None:
    path = write_stats(tmp_path / "stats.parquet")
    got = resolve_view_source(_parquet_view(path), None)
    assert got == ResolvedSource(f"read_parquet('{path}')", str(path), _footer_digest(path), None)
    # a change of content changes the footer's statistics, and so the fingerprint
    pq.write_table(pa.table({"driver_id": [1], "trips": [2]}), path)
    assert resolve_view_source(_parquet_view(path), None).content_hash == _footer_digest(path)
    assert _footer_digest(path) != got.content_hash


def test_a_folder_source_reads_every_parquet_file_in_name_order(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    b = write_stats(folder / "b.parquet")
    pq.write_table(pa.table({"driver_id": [9], "trips": [9]}), folder / "a.parquet")
    (folder / "notes.txt").write_text("not a part")
    got = resolve_view_source(_parquet_view(folder), None)
    assert got == ResolvedSource(
        f"read_parquet('{folder / '*.parquet'}')",
        str(folder),
        _footer_digest(folder / "a.parquet", b),
        None,
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert resolve_view_source(_parquet_view(empty), None).content_hash is None


def test_a_file_that_is_not_parquet_is_fingerprinted_by_its_size_and_tail(tmp_path: Path) -> None:
    for name, data in [("short.parquet", b"abc"), ("long.parquet", b"0123456789abcdef")]:
        path = tmp_path / name
        path.write_bytes(data)
        expected = hashlib.sha256(str(len(data)).encode() + b"\0" + data[-8:]).hexdigest()
        got = resolve_view_source(_parquet_view(path), None)
        assert got.content_hash == f"parquet-footer:{expected}"


def test_a_relative_path_is_read_from_the_workspace_root(sqlite_workspace: Workspace) -> None:
    write_stats(sqlite_workspace.root / "stats.parquet")
    with Session(sqlite_workspace) as session:
        got = resolve_view_source(_parquet_view("stats.parquet"), session)
    assert got.label == str(sqlite_workspace.root / "stats.parquet")
    with pytest.raises(InputError) as info:
        resolve_view_source(_parquet_view("nowhere.parquet"), None)
    assert info.value.message == ("feature view 'stats': source file nowhere.parquet not found")
    assert info.value.details == {"view": "stats"}


def test_a_home_relative_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write_stats(tmp_path / "stats.parquet")
    assert resolve_view_source(_parquet_view("~/stats.parquet"), None).label == str(
        tmp_path / "stats.parquet"
    )


def test_pinned_ref_follows_a_pin_only_for_a_name_only_snapshot(tmp_path: Path) -> None:
    def view(source: object) -> FeatureView:
        return FeatureView(
            "v",
            entities=[Entity("e", "id")],
            source=source,  # type: ignore[arg-type]
            features=[Feature("x", "int64")],
        )

    pins = {"activity": "activity@3", "activity@1": "activity@9"}
    assert pinned_ref(view(SnapshotSource("activity")), pins) == "activity@3"
    assert pinned_ref(view(SnapshotSource("activity")), None) == "activity"
    assert pinned_ref(view(SnapshotSource("activity")), {}) == "activity"
    assert pinned_ref(view(SnapshotSource("other")), pins) == "other"
    assert pinned_ref(view(SnapshotSource("activity@1")), pins) == "activity@1"
    assert pinned_ref(view("snapshot:activity"), pins) == "activity@3"
    assert pinned_ref(view(str(tmp_path / "x.parquet")), pins) is None


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in con.execute(f"SELECT * FROM ({sql}) ORDER BY ALL").fetchall()]


@pytest.fixture
def edges(tmp_path: Path) -> FeatureView:
    """Driver 1: two rows at 1h (created 1h and null), one at 2h; driver 2: one at 3h, one
    without an event time (naive times, read as UTC)."""
    path = tmp_path / "edges.parquet"
    naive = pa.timestamp("us")
    pq.write_table(
        pa.table(
            {
                "driver_id": pa.array([1, 1, 1, 2, 2], pa.int64()),
                "event_timestamp": pa.array(
                    [
                        hours(1).replace(tzinfo=None),
                        hours(1).replace(tzinfo=None),
                        hours(2).replace(tzinfo=None),
                        hours(3).replace(tzinfo=None),
                        None,
                    ],
                    naive,
                ),
                "created": pa.array([hours(1).replace(tzinfo=None), None, None, None, None], naive),
                "trips": pa.array([10, 11, 20, 30, 99], pa.int32()),
            }
        ),
        path,
    )
    return FeatureView(
        "edges",
        entities=[Entity("driver", "driver_id")],
        source=str(path),
        created_timestamp="created",
        features=[Feature("trips", "float64")],
    )


def test_view_relation_keeps_the_row_created_last_per_key_and_time(
    con: duckdb.DuckDBPyConnection, edges: FeatureView
) -> None:
    source = resolve_view_source(edges, None)
    # the null created time loses the 1h tie; the row without an event time is left out
    assert _rows(con, view_relation(edges, source)) == [
        (1, hours(1), hours(1), 10.0),
        (1, hours(2), None, 20.0),
        (2, hours(3), None, 30.0),
    ]
    assert _rows(con, view_relation(edges, source, dedupe=False)) == [
        (1, hours(1), hours(1), 10.0),
        (1, hours(1), None, 11.0),
        (1, hours(2), None, 20.0),
        (2, hours(3), None, 30.0),
    ]
    typed = con.sql(f"SELECT trips FROM ({view_relation(edges, source)})").to_arrow_table()
    assert typed.schema.field("trips").type == pa.float64()


def test_latest_relation_takes_the_range_start_and_leaves_its_end(
    con: duckdb.DuckDBPyConnection, edges: FeatureView
) -> None:
    source = resolve_view_source(edges, None)

    def latest(start: str | None, end: str | None) -> list[tuple[object, ...]]:
        return _rows(con, latest_relation(edges, source, start, end))

    one, two, three = (hours(h).isoformat() for h in (1, 2, 3))
    # [1h, 2h): the 1h rows only, the one created at 1h winning over the null created time
    assert latest(one, two) == [(1, hours(1), hours(1), 10.0)]
    # [2h, 3h): the row at exactly the start is in, the one at exactly the end is out
    assert latest(two, three) == [(1, hours(2), None, 20.0)]
    # open ends
    assert latest(None, two) == [(1, hours(1), hours(1), 10.0)]
    assert latest(two, None) == [(1, hours(2), None, 20.0), (2, hours(3), None, 30.0)]
    assert latest(None, None) == [(1, hours(2), None, 20.0), (2, hours(3), None, 30.0)]


def test_a_view_without_created_time_gets_null_created_times(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    view = _parquet_view(write_stats(tmp_path / "stats.parquet"))
    source = resolve_view_source(view, None)
    rows = _rows(con, view_relation(view, source))
    assert len(rows) == 5  # no created time: nothing deduplicated
    assert {r[2] for r in rows} == {None}


def test_an_error_without_a_message_is_named_by_its_type() -> None:
    class Failing:
        """A connection whose error carries no text (DuckDB's own always carry one)."""

        def execute(self, sql: str) -> None:
            raise duckdb.IOException("")

    source = ResolvedSource("read_parquet('x')", "x.parquet", None)
    with pytest.raises(InputError) as info:
        source_columns(Failing(), source, "v")  # type: ignore[arg-type]
    assert info.value.message == "feature view 'v': cannot read source x.parquet: IOException"
    assert info.value.details == {"view": "v"}


def test_latest_relation_takes_the_latest_row_per_composite_key(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # driver 1 in two cities: each (driver, city) pair keeps its own latest row
    path = tmp_path / "pairs.parquet"
    pq.write_table(
        pa.table(
            {
                "driver_id": pa.array([1, 1, 1, 2], pa.int64()),
                "city": pa.array(["a", "a", "b", "a"]),
                "event_timestamp": pa.array(
                    [hours(1), hours(2), hours(1), hours(3)], pa.timestamp("us", "UTC")
                ),
                "trips": pa.array([10, 20, 30, 40], pa.int64()),
            }
        ),
        path,
    )
    view = FeatureView(
        "pairs",
        entities=[Entity("driver", "driver_id"), Entity("city", "city")],
        source=str(path),
        features=[Feature("trips", "int64")],
    )
    source = resolve_view_source(view, None)
    assert _rows(con, latest_relation(view, source, None, None)) == [
        (1, "a", hours(2), None, 20),
        (1, "b", hours(1), None, 30),
        (2, "a", hours(3), None, 40),
    ]
    assert _rows(con, latest_relation(view, source, None, hours(2).isoformat())) == [
        (1, "a", hours(1), None, 10),
        (1, "b", hours(1), None, 30),
    ]
