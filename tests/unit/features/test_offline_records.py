"""The training set read whole: what it records of its sources, how it streams, and each
refusal of a spine compared with its field.

A model's lineage is built from :attr:`TrainingSet.lineage` and ``datasets``, and a pipeline
pins its snapshots with :func:`resolve_inputs` at its start: a wrong field there makes a
model say it was trained on bytes it never read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from modelward.config import Workspace
from modelward.data.snapshots import snapshot
from modelward.errors import InputError, StorageError
from modelward.features import (
    Catalog,
    Entity,
    Feature,
    FeatureView,
    SnapshotSource,
    on_demand,
    resolve_inputs,
    training_set,
)
from modelward.lineage import DatasetUse, FeatureViewUse
from modelward.session import Session
from tests.unit.features.support import hours, make_density, make_stats_view, spine, write_stats


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


def _snapshots(session: Session, tmp_path: Path) -> tuple[object, object]:
    first = snapshot(session, write_stats(tmp_path / "stats1.parquet"), name="stats")
    changed = pa.table(
        {
            "driver_id": pa.array([1], pa.int64()),
            "event_timestamp": pa.array([hours(1)], pa.timestamp("us", "UTC")),
            "trips": pa.array([99], pa.int64()),
            "rating": pa.array([1.0]),
        }
    )
    pq.write_table(changed, tmp_path / "stats2.parquet")
    second = snapshot(session, tmp_path / "stats2.parquet", name="stats")
    return first, second


def _snapshot_views() -> tuple[FeatureView, FeatureView]:
    latest = FeatureView(
        "snap",
        entities=[Entity("driver", "driver_id")],
        source=SnapshotSource("stats"),
        features=[Feature("trips", "int64")],
    )
    pinned = FeatureView(
        "pinned",
        entities=[Entity("driver", "driver_id")],
        source=SnapshotSource("stats@1"),
        features=[Feature("rating", "float64")],
    )
    return latest, pinned


def test_resolve_inputs_names_every_source_and_pins_name_only_snapshots(
    session: Session, tmp_path: Path
) -> None:
    one, two = _snapshots(session, tmp_path)
    latest, pinned = _snapshot_views()
    stats = make_stats_view(write_stats(tmp_path / "file.parquet"))
    density = make_density(stats)
    catalog = Catalog([latest, pinned, stats, density])
    got = resolve_inputs(["snap", "pinned", "trips_per_km"], session=session, catalog=catalog)
    footer = got["views"]["driver_stats"]["content_hash"]
    assert footer.startswith("parquet-footer:")
    assert got == {
        "views": {
            "snap": {
                "definition_hash": latest.definition_hash,
                "source": "snapshot:stats@2",
                "content_hash": two.content_hash,  # type: ignore[attr-defined]
                "snapshot_id": two.id,  # type: ignore[attr-defined]
            },
            "pinned": {
                "definition_hash": pinned.definition_hash,
                "source": "snapshot:stats@1",
                "content_hash": one.content_hash,  # type: ignore[attr-defined]
                "snapshot_id": one.id,  # type: ignore[attr-defined]
            },
            # an on-demand view reads no source itself; its input view is listed
            "trips_per_km": {"definition_hash": density.definition_hash},
            "driver_stats": {
                "definition_hash": stats.definition_hash,
                "source": str(tmp_path / "file.parquet"),
                "content_hash": footer,
                "snapshot_id": None,
            },
        },
        # only the name-only ref is pinned: "stats@1" names its version already
        "snapshots": {"stats": two.id},  # type: ignore[attr-defined]
    }
    # a pin given in is followed, and passed back out
    again = resolve_inputs(
        ["snap"], session=session, catalog=catalog, snapshots={"stats": "stats@1"}
    )
    assert again == {
        "views": {
            "snap": {
                "definition_hash": latest.definition_hash,
                "source": "snapshot:stats@1",
                "content_hash": one.content_hash,  # type: ignore[attr-defined]
                "snapshot_id": one.id,  # type: ignore[attr-defined]
            }
        },
        "snapshots": {"stats": one.id},  # type: ignore[attr-defined]
    }


def test_training_set_lineage_names_each_view_and_snapshot_once(
    session: Session, tmp_path: Path
) -> None:
    one, two = _snapshots(session, tmp_path)
    latest, pinned = _snapshot_views()
    stats = make_stats_view(write_stats(tmp_path / "file.parquet"))
    density = make_density(stats)
    catalog = Catalog([latest, pinned, stats, density])
    with training_set(
        spine([1], [hours(1.5)], km=[1.0]),
        ["snap", "pinned", "trips_per_km"],
        session=session,
        catalog=catalog,
    ) as ts:
        got = ts.to_arrow()
        footer = ts.lineage[2].source_hashes[0]
        assert ts.lineage == (
            FeatureViewUse("snap", latest.definition_hash, (two.content_hash,)),  # type: ignore[attr-defined]
            FeatureViewUse("pinned", pinned.definition_hash, (one.content_hash,)),  # type: ignore[attr-defined]
            FeatureViewUse("trips_per_km", density.definition_hash, (footer,)),
            FeatureViewUse("driver_stats", stats.definition_hash, (footer,)),
        )
        assert ts.datasets == (
            DatasetUse(two.id, "stats", 2, two.content_hash),  # type: ignore[attr-defined]
            DatasetUse(one.id, "stats", 1, one.content_hash),  # type: ignore[attr-defined]
        )
        assert ts.lineage_dict() == {
            "feature_views": [
                {
                    "name": u.name,
                    "definition_hash": u.definition_hash,
                    "source_hashes": [*u.source_hashes],
                }
                for u in ts.lineage
            ],
            "datasets": [
                {
                    "snapshot_id": d.snapshot_id,
                    "name": "stats",
                    "version": d.version,
                    "content_hash": d.content_hash,
                }
                for d in ts.datasets
            ],
        }
        assert ts.feature_columns == ["trips", "rating", "trips_per_km"]
    # the latest snapshot (one row: trips 99 at 1h), the first one's rating, the file's trips
    assert got.drop_columns(["event_timestamp"]).to_pylist() == [
        {"driver_id": 1, "km": 1.0, "trips": 99, "rating": 4.5, "trips_per_km": 10.0}
    ]


def test_a_snapshot_source_without_a_session_is_refused(tmp_path: Path) -> None:
    latest, _ = _snapshot_views()
    with pytest.raises(InputError) as info:
        training_set(spine([1], [hours(2)]), [latest])
    assert info.value.message == "feature view 'snap': a snapshot source needs a workspace session"
    assert info.value.details == {"view": "snap"}


def test_batches_stream_in_spine_order_with_row_numbers_across_batches(
    catalog: Catalog,
) -> None:
    s = spine([2, 1, 2, 1, 2], [hours(3), hours(2), hours(1), hours(2), hours(3)], km=[1.0] * 5)
    with training_set(
        s, ["trips_per_km", "driver_stats:trips"], catalog=catalog, allow_duplicates=True
    ) as ts:
        batches = list(ts.batches(rows=2))
        assert [b.num_rows for b in batches] == [2, 2, 1]
        table = pa.Table.from_batches(batches)
        assert table.column("trips").to_pylist() == [0, 21, 5, 21, 0]
        assert table.column("trips_per_km").to_pylist() == [0.0, 21.0, 5.0, 21.0, 0.0]
        assert table.equals(ts.to_arrow())
    bad = spine([1, 1, 1, 2, 1], [hours(2), hours(3), hours(3.5), hours(3.5), hours(4)])
    bad = bad.append_column("km", pa.array([1.0, 1.0, 1.0, 0.0, 1.0]))
    with (
        training_set(bad, ["trips_per_km"], catalog=catalog) as ts,
        pytest.raises(InputError) as info,
    ):
        list(ts.batches(rows=1))
    # the failing row is numbered in the whole spine, not in its batch
    assert "failed on row 3 ({'driver_id': 2})" in info.value.message
    assert info.value.details["row"] == 3


def test_plain_batches_and_parquet_need_no_on_demand_pass(tmp_path: Path, catalog: Catalog) -> None:
    s = spine([2, 1, 1], [hours(3), hours(2), hours(0.5)])
    with training_set(s, ["driver_stats:trips", "driver_stats:city"], catalog=catalog) as ts:
        assert [b.num_rows for b in ts.batches(rows=2)] == [2, 1]
        expected = ts.to_arrow()
        out = ts.to_parquet(tmp_path / "two" / "deep" / "train.parquet")
    assert out == (tmp_path / "two" / "deep" / "train.parquet").resolve()
    assert pq.read_table(out).equals(expected)
    assert expected.column("trips").to_pylist() == [0, 21, None]
    assert sorted(p.name for p in out.parent.iterdir()) == ["train.parquet"]  # no temporary left


@pytest.mark.parametrize("on_demand", [False, True], ids=["plain", "on-demand"])
def test_a_training_set_that_cannot_be_written_says_where(
    tmp_path: Path, catalog: Catalog, on_demand: bool
) -> None:
    target = tmp_path / "out" / "taken"
    target.mkdir(parents=True)
    (target / "inside").write_text("x")  # a non-empty folder cannot be replaced by a file
    features = ["trips_per_km"] if on_demand else ["driver_stats:trips"]
    with (
        training_set(spine([1], [hours(2)], km=[1.0]), features, catalog=catalog) as ts,
        pytest.raises(StorageError) as info,
    ):
        ts.to_parquet(target)
    assert info.value.message.startswith(f"{target}: cannot write the training set: ")
    assert sorted(p.name for p in target.parent.iterdir()) == ["taken"]  # the temporary is gone


def test_an_empty_spine_gives_an_empty_set_with_every_column(
    tmp_path: Path, catalog: Catalog
) -> None:
    # found by this test: with an on-demand view, an empty spine raised a pyarrow
    # ValueError ("Must pass schema") from to_arrow, and to_parquet wrote no file
    s = spine([], [], km=pa.array([], pa.float64()))  # type: ignore[arg-type]
    for features in (["trips_per_km", "driver_stats:city"], ["driver_stats:city"]):
        with training_set(s, features, catalog=catalog) as ts:
            got = ts.to_arrow()
            written = pq.read_table(ts.to_parquet(tmp_path / "empty.parquet"))
            batches = list(ts.batches())
        assert got.num_rows == written.num_rows == 0
        assert (
            got.column_names
            == written.column_names
            == [
                "driver_id",
                "event_timestamp",
                "km",
                *(["city", "trips_per_km"] if len(features) == 2 else ["city"]),
            ]
        )
        assert [b.num_rows for b in batches] == [0]
        if len(features) == 2:
            assert got.schema.field("trips_per_km").type == pa.float64()
    assert got.schema.field("city").type == pa.string()


def test_an_on_demand_function_is_not_called_for_an_empty_spine(stats_view: FeatureView) -> None:
    @on_demand(inputs=[stats_view], outputs=[Feature("first_trips", "int64")])
    def first_trips(table: pa.Table) -> dict[str, pa.Array]:
        if table.num_rows == 0:
            raise AssertionError("called with no rows")
        return {"first_trips": table["trips"]}

    catalog = Catalog([stats_view, first_trips])
    with training_set(spine([], []), ["first_trips"], catalog=catalog) as ts:
        got = ts.to_arrow()
    assert got.num_rows == 0
    assert got.schema.field("first_trips").type == pa.int64()  # the declared type, not null


def test_request_fields_are_cast_before_the_function_sees_them(stats_view: FeatureView) -> None:
    @on_demand(
        inputs=[stats_view],
        request=[Feature("km", "float64")],
        outputs=[Feature("half_km", "float64")],
    )
    def half_km(table: pa.Table) -> dict[str, pa.Array]:
        return {"half_km": pc.divide(table["km"], 2)}  # integer division on integers

    catalog = Catalog([stats_view, half_km])
    with training_set(spine([1], [hours(2)], km=[5]), ["half_km"], catalog=catalog) as ts:
        assert ts.to_arrow().column("half_km").to_pylist() == [2.5]


def test_request_fields_reach_the_function_as_their_declared_type(catalog: Catalog) -> None:
    s = spine([1, 2], [hours(2), hours(3)], km=[4, 1])  # integers for a float64 field
    with training_set(s, ["trips_per_km"], catalog=catalog) as ts:
        got = ts.to_arrow()
    assert got.column("trips_per_km").to_pylist() == [5.25, 0.0]
    assert got.column("km").type == pa.int64()  # the spine's own column is left as given


def test_an_on_demand_view_with_its_input_view_shows_the_input_once(catalog: Catalog) -> None:
    s = spine([1], [hours(2)], km=[2.0])
    with training_set(s, ["trips_per_km", "driver_stats:trips"], catalog=catalog) as ts:
        got = ts.to_arrow()
        assert ts.feature_columns == ["trips_per_km", "trips"]
    assert got.column_names == ["driver_id", "event_timestamp", "km", "trips", "trips_per_km"]
    assert got.column("trips").to_pylist() == [21]
    assert got.column("trips_per_km").to_pylist() == [10.5]


def test_full_names_prefix_every_feature_with_its_view(catalog: Catalog) -> None:
    s = spine([1], [hours(2)], km=[2.0])
    with training_set(
        s, ["trips_per_km", "driver_stats:city"], catalog=catalog, full_names=True
    ) as ts:
        got = ts.to_arrow()
    assert got.column_names == [
        "driver_id",
        "event_timestamp",
        "km",
        "driver_stats__city",
        "trips_per_km__trips_per_km",
    ]
    assert got.column("trips_per_km__trips_per_km").to_pylist() == [10.5]


def _refusal(catalog: Catalog, entity_df: object, features: list[str], **kw: object) -> InputError:
    with pytest.raises(InputError) as info:
        training_set(entity_df, features, catalog=catalog, **kw)  # type: ignore[arg-type]
    return info.value


def test_spine_refusals_name_the_column_and_the_rule(tmp_path: Path, catalog: Catalog) -> None:
    missing = tmp_path / "nowhere.parquet"
    err = _refusal(catalog, missing, ["driver_stats:trips"])
    assert err.message == f"spine {missing}: file not found"
    assert err.details == {"file": str(missing)}
    err = _refusal(catalog, [1, 2], ["driver_stats:trips"])
    assert err.message == (
        "spine of type list is not supported; give a pyarrow Table, a pandas or polars "
        "DataFrame, or a Parquet file path"
    )
    err = _refusal(catalog, pa.table({"driver_id": [1]}), ["driver_stats:trips"])
    assert err.message == (
        "spine has no timestamp column 'event_timestamp' (columns: driver_id); "
        "pass timestamp_column= to name it"
    )
    assert err.details == {"column": "event_timestamp"}
    err = _refusal(
        catalog, pa.table({"driver_id": [1], "event_timestamp": ["2024"]}), ["driver_stats:trips"]
    )
    assert err.message == (
        "spine column 'event_timestamp' is string, not a timestamp; give timezone-aware times"
    )
    assert err.details == {"column": "event_timestamp"}
    naive = pa.table({"driver_id": [1], "event_timestamp": [datetime(2024, 1, 1)]})
    err = _refusal(catalog, naive, ["driver_stats:trips"])
    assert err.message == (
        "spine column 'event_timestamp' holds naive timestamps; point-in-time joins need "
        "timezone-aware times (e.g. tz_localize('UTC') in pandas)"
    )
    assert err.details == {"column": "event_timestamp"}
    keyless = pa.table({"event_timestamp": pa.array([hours(1)], pa.timestamp("us", "UTC"))})
    err = _refusal(catalog, keyless, ["driver_stats:trips"])
    assert err.message == "spine lacks entity key column(s) driver_id (columns: event_timestamp)"
    assert err.details == {"column": "driver_id"}
    reserved = spine([1], [hours(1)], __mw_row=[0])
    err = _refusal(catalog, reserved, ["driver_stats:trips"])
    assert err.message == "spine column name '__mw_row' is reserved"
    assert err.details == {"column": "__mw_row"}
    err = _refusal(catalog, spine([1], [hours(1)]), ["trips_per_km"])
    assert err.message == "on-demand request field(s) km must be spine columns"
    assert err.details == {"column": "km"}
    err = _refusal(catalog, spine([1], [hours(2)], trips=[3]), ["driver_stats:trips"])
    assert err.message == (
        "output column 'trips' of driver_stats:trips clashes with the spine; "
        "pass full_names=True to name columns view__feature"
    )
    assert err.details == {"column": "trips"}


def test_a_custom_timestamp_column_is_used_and_named(catalog: Catalog) -> None:
    s = spine([1], [hours(2)]).rename_columns(["driver_id", "at"])
    with training_set(s, ["driver_stats:trips"], catalog=catalog, timestamp_column="at") as ts:
        assert ts.to_arrow().column("trips").to_pylist() == [21]
    err = _refusal(catalog, s, ["driver_stats:trips"])
    assert "no timestamp column 'event_timestamp' (columns: driver_id, at)" in err.message


def test_duplicate_rows_are_refused_whole_or_allowed(catalog: Catalog) -> None:
    # driver 2 three times (rows 0, 3, 4), driver 1 twice (rows 1, 2): the group with the
    # first row is named, by its first and last row and its size
    s = spine([2, 1, 1, 2, 2], [hours(2)] * 5)
    err = _refusal(catalog, s, ["driver_stats:trips"])
    assert err.message == (
        "spine rows 0 and 4 (of 3) have the same entity keys and 'event_timestamp'; they "
        "would get the same features: drop duplicates, or pass allow_duplicates=True"
    )
    assert err.details == {"row": 0}
    with training_set(s, ["driver_stats:trips"], catalog=catalog, allow_duplicates=True) as ts:
        assert ts.to_arrow().column("trips").to_pylist() == [5, 21, 21, 5, 5]
    # the same key at another time, or another key at the same time, is no duplicate
    ok = spine([1, 1, 2], [hours(2), hours(3), hours(2)])
    with training_set(ok, ["driver_stats:trips"], catalog=catalog) as ts:
        assert ts.to_arrow().column("trips").to_pylist() == [21, 21, 5]


@pytest.mark.parametrize("as_file", [False, True], ids=["table", "parquet"])
@pytest.mark.parametrize("row", [0, 2], ids=["first row group", "last row group"])
def test_a_spine_row_without_time_is_refused_by_number(
    tmp_path: Path, catalog: Catalog, as_file: bool, row: int
) -> None:
    times: list[datetime | None] = [hours(1), hours(2), hours(3)]
    times[row] = None
    s = spine([1, 2, 1], times)  # type: ignore[arg-type]
    given: object = s
    if as_file:
        given = tmp_path / "spine.parquet"
        pq.write_table(s, given, row_group_size=1)  # one row group a row: counts add up
    err = _refusal(catalog, given, ["driver_stats:trips"])
    assert err.message == (
        f"spine row {row} has no timestamp in 'event_timestamp'; every row needs one"
    )
    assert err.details == {"column": "event_timestamp", "row": row}


def test_a_parquet_spine_without_statistics_is_still_checked(
    tmp_path: Path, catalog: Catalog
) -> None:
    path = tmp_path / "spine.parquet"
    pq.write_table(spine([1, 2], [None, hours(2)]), path, write_statistics=False)  # type: ignore[list-item]
    err = _refusal(catalog, path, ["driver_stats:trips"])
    assert err.details == {"column": "event_timestamp", "row": 0}
    clean = tmp_path / "clean.parquet"
    pq.write_table(spine([1, 2], [hours(2), hours(3)]), clean, write_statistics=False)
    with training_set(clean, ["driver_stats:trips"], catalog=catalog) as ts:
        assert ts.to_arrow().column("trips").to_pylist() == [21, 0]


def test_without_a_catalog_the_workspace_definitions_are_read(sqlite_workspace: Workspace) -> None:
    root = sqlite_workspace.root
    write_stats(root / "stats.parquet")
    (root / "features.py").write_text(
        "from modelward.features import Entity, Feature, FeatureView\n"
        "stats = FeatureView('stats', entities=[Entity('driver', 'driver_id')],\n"
        "    source='stats.parquet', features=[Feature('trips', 'int64')])\n"
    )
    with Session(sqlite_workspace) as session:
        got = resolve_inputs(["stats:trips"], session=session)
        assert got["views"]["stats"]["source"] == str(root / "stats.parquet")
        assert got["snapshots"] == {}
        with training_set(spine([2], [hours(1)]), ["stats:trips"], session=session) as ts:
            assert ts.to_arrow().column("trips").to_pylist() == [5]


class _ArrowFrame:
    """A frame that is not pandas but hands out Arrow, as polars does (``to_arrow``)."""

    def __init__(self, table: object) -> None:
        self._table = table

    def to_arrow(self) -> object:
        return self._table


class _DatasetLike(_ArrowFrame):
    """``to_arrow`` beside ``to_pandas_dataframe``: an Azure-ML-like dataset, not a frame."""

    def to_pandas_dataframe(self) -> object:
        return None


class _ColumnsOnly(_ArrowFrame):
    columns = ("driver_id",)


def test_a_frame_with_to_arrow_is_read_as_arrow(catalog: Catalog) -> None:
    frame = _ArrowFrame(spine([1, 2], [hours(2), hours(3)]))
    with training_set(frame, ["driver_stats:trips"], catalog=catalog) as ts:
        assert ts.to_arrow().column("trips").to_pylist() == [21, 0]
    for other in (
        _DatasetLike(spine([1], [hours(2)])),
        _ArrowFrame("not a table"),
        _ColumnsOnly("not a table"),
    ):
        err = _refusal(catalog, other, ["driver_stats:trips"])
        assert err.message.startswith(f"spine of type {type(other).__name__} is not supported")


def test_two_views_giving_the_same_feature_name_clash_by_name(
    catalog: Catalog, stats_view: FeatureView
) -> None:
    twin = FeatureView(
        "twin",
        entities=stats_view.entities,
        source=stats_view.source,
        features=[Feature("trips", "int64")],
    )
    both = Catalog([stats_view, twin])
    err = _refusal(both, spine([1], [hours(2)]), ["driver_stats:trips", "twin:trips"])
    assert err.message == (
        "output column 'trips' of twin:trips clashes with driver_stats:trips; "
        "pass full_names=True to name columns view__feature"
    )


def test_composite_keys_join_on_every_key(tmp_path: Path) -> None:
    path = tmp_path / "pairs.parquet"
    ts_type = pa.timestamp("us", "UTC")
    pq.write_table(
        pa.table(
            {
                "driver_id": pa.array([1, 1, 2], pa.int64()),
                "zone": ["a", "b", "a"],
                "event_timestamp": pa.array([hours(1)] * 3, ts_type),
                "trips": pa.array([10, 20, 30], pa.int64()),
            }
        ),
        path,
    )
    view = FeatureView(
        "pairs",
        entities=[Entity("driver", "driver_id"), Entity("zone", "zone")],
        source=str(path),
        features=[Feature("trips", "int64")],
    )
    s = pa.table(
        {
            "driver_id": pa.array([1, 1, 2, 2], pa.int64()),
            "zone": ["b", "a", "a", "b"],
            "event_timestamp": pa.array([hours(2)] * 4, ts_type),
        }
    )
    with training_set(s, ["pairs:trips"], catalog=Catalog([view])) as result:
        assert result.to_arrow().column("trips").to_pylist() == [20, 10, 30, None]


def test_an_input_view_without_a_content_hash_records_none(stats_view: FeatureView) -> None:
    sql = FeatureView(
        "sql_stats",
        entities=stats_view.entities,
        source=f"SELECT driver_id, event_timestamp, trips FROM read_parquet('{stats_view.source}')",
        features=[Feature("trips", "int64")],
    )

    @on_demand(inputs=[sql], outputs=[Feature("double", "int64")])
    def double(table: pa.Table) -> dict[str, pa.Array]:
        return {"double": pc.multiply(table["trips"], 2)}

    with training_set(spine([2], [hours(3)]), [double], catalog=Catalog([sql, double])) as ts:
        assert ts.to_arrow().column("double").to_pylist() == [0]
        # a SQL source has no content hash: neither view claims one
        assert ts.lineage == (
            FeatureViewUse("double", double.definition_hash, ()),
            FeatureViewUse("sql_stats", sql.definition_hash, ()),
        )
        assert ts.datasets == ()


def _definitions(root: Path) -> None:
    write_stats(root / "stats.parquet")
    (root / "features.py").write_text(
        "from modelward.features import Entity, Feature, FeatureView\n"
        "stats = FeatureView('stats', entities=[Entity('driver', 'driver_id')],\n"
        "    source='stats.parquet', features=[Feature('trips', 'int64')])\n"
    )


def test_without_a_session_names_resolve_in_the_current_workspace(
    workspace_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelward.session import reset_current_session

    _definitions(workspace_dir)
    monkeypatch.setenv("MODELWARD_WORKSPACE", str(workspace_dir))
    monkeypatch.setenv("MODELWARD_IDENTITY__USER", "tester")
    try:
        with training_set(spine([2], [hours(1)]), ["stats:trips"]) as ts:
            assert ts.to_arrow().column("trips").to_pylist() == [5]
    finally:
        reset_current_session()


def test_view_objects_with_a_session_need_no_definitions_module(
    session: Session, stats_view: FeatureView
) -> None:
    assert not (session.workspace.root / "features.py").exists()
    with training_set(spine([1], [hours(2)]), [stats_view], session=session) as ts:
        assert ts.to_arrow().column("trips").to_pylist() == [21]


def _memory_limit(con: object) -> str:
    return str(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])  # type: ignore[attr-defined]


def test_the_join_runs_with_the_workspace_data_settings(
    workspace_dir: Path, stats_view: FeatureView
) -> None:
    from modelward.config import DataSettings
    from modelward.data import connect

    workspace = Workspace.open(
        workspace_dir,
        environ={
            "MODELWARD_IDENTITY__USER": "tester",
            "MODELWARD_DATA__DUCKDB_MEMORY_LIMIT": "123MB",
        },
    )
    expected = _memory_limit(connect(DataSettings(duckdb_memory_limit="123MB")))
    assert expected != _memory_limit(connect(None))
    with Session(workspace) as session:
        with training_set(spine([1], [hours(2)]), [stats_view], session=session) as ts:
            assert _memory_limit(ts._con) == expected
        # settings given explicitly win over the workspace's
        given = DataSettings(duckdb_memory_limit="77MB")
        with training_set(
            spine([1], [hours(2)]), [stats_view], session=session, settings=given
        ) as ts:
            assert _memory_limit(ts._con) == _memory_limit(connect(given))


def test_refusals_list_every_missing_key_and_request_field(stats_view: FeatureView) -> None:
    pairs = FeatureView(
        "pairs",
        entities=[Entity("driver", "driver_id"), Entity("zone", "zone")],
        source=stats_view.source,
        features=[Feature("trips", "int64")],
    )
    keyless = pa.table(
        {
            "event_timestamp": pa.array([hours(1)], pa.timestamp("us", "UTC")),
            "label": [1],
        }
    )
    err = _refusal(Catalog([pairs]), keyless, ["pairs:trips"])
    assert err.message == (
        "spine lacks entity key column(s) driver_id, zone (columns: event_timestamp, label)"
    )

    @on_demand(
        inputs=[stats_view],
        request=[Feature("km", "float64"), Feature("minutes", "float64")],
        outputs=[Feature("speed", "float64")],
    )
    def speed(table: pa.Table) -> dict[str, pa.Array]:
        return {"speed": pc.divide(table["km"], table["minutes"])}

    err = _refusal(Catalog([stats_view, speed]), spine([1], [hours(1)]), ["speed"])
    assert err.message == "on-demand request field(s) km, minutes must be spine columns"


def test_a_pandas_spine_keeps_its_columns_whatever_its_index(catalog: Catalog) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "driver_id": [2, 1, 1],
            "event_timestamp": pd.to_datetime([hours(3), hours(2), hours(9)], utc=True),
        }
    )
    # an index of labels is no column of the spine (pyarrow would store it as one)
    for given in (frame, frame.set_index(pd.Index(["a", "b", "c"]))):
        with training_set(given, ["driver_stats:trips"], catalog=catalog) as ts:
            got = ts.to_arrow()
        assert got.column_names == ["driver_id", "event_timestamp", "trips"]
        assert got.num_rows == len(given)


def test_pinned_snapshots_are_read_and_noted_in_the_lineage(
    session: Session, tmp_path: Path
) -> None:
    from modelward.lineage import collecting

    one, _ = _snapshots(session, tmp_path)
    latest, _ = _snapshot_views()
    catalog = Catalog([latest])
    with (
        collecting() as lineage,
        training_set(
            spine([1], [hours(1.5)]),
            ["snap"],
            session=session,
            catalog=catalog,
            snapshots={"stats": "stats@1"},
        ) as ts,
    ):
        got = ts.to_arrow()
    assert got.column("trips").to_pylist() == [10]  # stats@1, not the latest (99)
    assert lineage.to_dict()["datasets"] == [
        {
            "snapshot_id": one.id,  # type: ignore[attr-defined]
            "name": "stats",
            "version": 1,
            "content_hash": one.content_hash,  # type: ignore[attr-defined]
        }
    ]


def test_an_unreadable_view_source_names_the_view(stats_view: FeatureView) -> None:
    broken = FeatureView(
        "broken",
        entities=stats_view.entities,
        source="SELECT * FROM no_such_table",
        features=[Feature("trips", "int64")],
    )
    with pytest.raises(InputError) as info:
        training_set(spine([1], [hours(2)]), [broken])
    assert info.value.message.startswith(
        "feature view 'broken': cannot read source sql:SELECT * FROM no_such_table: "
    )
    assert info.value.details == {"view": "broken"}
