"""What a materialization run leaves behind, compared whole: the run row, its audit entry,
the stored records, the answer, and each refusal with its field.

The watermark is read from the run rows (the greatest end of a succeeded run of the same
layout into the same store), so a wrong field there moves it for the wrong store or view.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from modelward.config import Workspace
from modelward.errors import ContractViolation, InputError
from modelward.features import Entity, Feature, FeatureView, Record, Rule
from modelward.features.materialization import MaterializationRun, materialize_view, watermark
from modelward.features.online.memory import MemoryOnlineStore
from modelward.features.packing import entity_key, pack, to_us
from modelward.security import entries
from modelward.session import Session
from tests.unit.features.support import hours, write_stats


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


def _view(
    path: Path, *, rules: Sequence[Rule] = (), created: str | None = "created"
) -> FeatureView:
    return FeatureView(
        "driver_stats",
        entities=[Entity("driver", "driver_id")],
        source=str(path),
        created_timestamp=created,
        features=[Feature("trips", "int64"), Feature("rating", "float64")],
        ttl=timedelta(days=30),
        rules=rules,
    )


@pytest.fixture
def view(tmp_path: Path) -> FeatureView:
    return _view(write_stats(tmp_path / "stats.parquet"))


def _runs(session: Session) -> list[dict[str, object]]:
    from modelward.features.tables import feature_runs

    with session.store.read() as conn:
        rows = conn.execute(select(feature_runs).order_by(feature_runs.c.started_at)).all()
    return [dict(r._mapping) for r in rows]


def _audited(session: Session) -> list[tuple[str, str, str, dict[str, object]]]:
    with session.store.read() as conn:
        return [
            (e.actor, e.action, e.target, e.payload)
            for e in entries(conn, target="feature_view:driver_stats")
        ]


def test_a_succeeded_run_is_recorded_whole(session: Session, view: FeatureView) -> None:
    store = MemoryOnlineStore()
    calls: list[tuple[int, int]] = []
    run = materialize_view(
        session, view, store, end=hours(10), batch_rows=1, progress=lambda *a: calls.append(a)
    )
    report = {
        "source": view.source,
        "source_hash": run.report["source_hash"],
        "rows": 2,
        "newest_event": "2024-01-01T03:00:00+00:00",
    }
    assert str(run.report["source_hash"]).startswith("parquet-footer:")
    assert (run.view, run.mode, run.start, run.end, run.status, run.rows, run.report) == (
        "driver_stats",
        "incremental",
        None,
        hours(10),
        "succeeded",
        2,
        report,
    )
    assert len(run.id) == 32 and 0 < run.duration_s < 600
    assert run.to_dict() == {
        "id": run.id,
        "view": "driver_stats",
        "mode": "incremental",
        "start": None,
        "end": "2024-01-01T10:00:00+00:00",
        "status": "succeeded",
        "rows": 2,
        "duration_s": round(run.duration_s, 3),
        "report": report,
    }
    # one progress call per batch of one row: written so far, of the run's rows
    assert calls == [(1, 2), (2, 2)]
    (row,) = _runs(session)
    started, finished, duration = (
        row.pop("started_at"),
        row.pop("finished_at"),
        row.pop("duration_s"),
    )
    assert row == {
        "id": run.id,
        "view": "driver_stats",
        "definition_hash": view.definition_hash,
        "namespace": view.online_namespace,
        "online_store": store.label,
        "mode": "incremental",
        "start": None,
        "end": hours(10),
        "status": "succeeded",
        "rows": 2,
        "created_by": "tester",
        "report": report,
    }
    assert started <= finished  # type: ignore[operator]
    assert 0 < duration < 600  # type: ignore[operator]
    assert _audited(session) == [
        (
            "tester",
            "features.materialize.succeeded",
            "feature_view:driver_stats",
            {"run": run.id, "rows": 2, "definition_hash": view.definition_hash},
        )
    ]
    # the latest row per driver, with its event and created time: driver 1's 2h row
    # created at 2.5h wins over the one created at 2h
    assert store.read(view.online_namespace, ["1", "2"]) == [
        Record("1", to_us(hours(2)), to_us(hours(2.5)), pack([21, 4.7], ["int64", "float64"])),
        Record("2", to_us(hours(3)), to_us(hours(3)), pack([0, 3.5], ["int64", "float64"])),
    ]


def test_a_view_without_created_time_stores_zero_for_it(tmp_path: Path, session: Session) -> None:
    view = _view(write_stats(tmp_path / "stats.parquet"), created=None)
    store = MemoryOnlineStore()
    materialize_view(session, view, store, end=hours(10))
    assert [r.created_us if r else None for r in store.read(view.online_namespace, ["1", "2"])] == [
        0,
        0,
    ]


def test_composite_keys_are_stored_joined(tmp_path: Path, session: Session) -> None:
    path = tmp_path / "pairs.parquet"
    ts = pa.timestamp("us", "UTC")
    pq.write_table(
        pa.table(
            {
                "driver_id": pa.array([1, 1], pa.int64()),
                "zone": ["a", "b"],
                "event_timestamp": pa.array([hours(1), hours(1)], ts),
                "trips": pa.array([10, 20], pa.int64()),
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
    store = MemoryOnlineStore()
    materialize_view(session, view, store, end=hours(10))
    assert sorted(store.keys(view.online_namespace, 10)) == [
        entity_key([1, "a"]),
        entity_key([1, "b"]),
    ]


def test_the_batch_size_comes_from_the_settings(tmp_path: Path, workspace_dir: Path) -> None:
    workspace = Workspace.open(
        workspace_dir,
        environ={
            "MODELWARD_IDENTITY__USER": "tester",
            "MODELWARD_FEATURES__MATERIALIZE_BATCH_ROWS": "1",
        },
    )
    view = _view(write_stats(tmp_path / "stats.parquet"))
    calls: list[tuple[int, int]] = []
    with Session(workspace) as session:
        materialize_view(
            session, view, MemoryOnlineStore(), end=hours(10), progress=lambda *a: calls.append(a)
        )
    assert calls == [(1, 2), (2, 2)]


def test_a_refused_run_records_its_violations_and_writes_nothing(
    session: Session, tmp_path: Path
) -> None:
    view = _view(write_stats(tmp_path / "stats.parquet"), rules=[Rule.between("trips", 0, 10)])
    store = MemoryOnlineStore()
    with pytest.raises(ContractViolation) as info:
        materialize_view(session, view, store, end=hours(10))
    (row,) = _runs(session)
    violation = {
        "rule": "trips between 0 and 10",
        "column": "trips",
        "rows": 1,
        "examples": [{"driver_id": 1}],
    }
    got = row["report"]["violations"]  # type: ignore[index]
    assert [{k: v[k] for k in violation} for v in got] == [violation]
    assert info.value.message == (
        "materialization of 'driver_stats' refused: rule 'trips between 0 and 10' broken by "
        "1 row(s), e.g. [{'driver_id': 1}]; nothing was written"
    )
    assert info.value.details == {"view": "driver_stats", "run": row["id"], "violations": got}
    assert (row["status"], row["rows"]) == ("refused", 0)
    assert row["report"] == {
        "source": view.source,
        "source_hash": row["report"]["source_hash"],
        "violations": got,
    }  # type: ignore[index]
    assert store.count(view.online_namespace) == 0
    assert watermark(session, view, store) is None
    assert _audited(session) == [
        (
            "tester",
            "features.materialize.refused",
            "feature_view:driver_stats",
            {"run": row["id"], "rows": 0, "definition_hash": view.definition_hash},
        )
    ]


class _FailingStore(MemoryOnlineStore):
    def __init__(self, fail_on: int) -> None:
        super().__init__()
        self.writes = 0
        self.fail_on = fail_on

    def write(self, namespace: str, records: Sequence[Record]) -> None:
        self.writes += 1
        if self.writes == self.fail_on:
            raise ConnectionError("lost the online store")
        super().write(namespace, records)


def test_a_failed_run_records_the_error_and_what_was_written(
    session: Session, view: FeatureView
) -> None:
    store = _FailingStore(fail_on=2)
    with pytest.raises(ConnectionError):
        materialize_view(session, view, store, end=hours(10), batch_rows=1)
    (row,) = _runs(session)
    assert (row["status"], row["rows"], row["report"]) == (
        "failed",
        1,
        {"error": "ConnectionError: lost the online store"},
    )
    assert row["finished_at"] is not None
    assert watermark(session, view, store) is None
    assert [a[1] for a in _audited(session)] == ["features.materialize.failed"]


def test_refused_ranges_name_the_field(session: Session, view: FeatureView) -> None:
    store = MemoryOnlineStore()
    with pytest.raises(InputError) as info:
        materialize_view(session, view, store, end=hours(1).replace(tzinfo=None))
    assert info.value.message == ("end 2024-01-01T01:00:00 is naive; give a timezone-aware time")
    assert info.value.details == {"field": "end"}
    with pytest.raises(InputError) as info:
        materialize_view(session, view, store, start=hours(1).replace(tzinfo=None), end=hours(2))
    assert info.value.details == {"field": "start"}
    assert info.value.message.startswith("start 2024-01-01T01:00:00 is naive")
    for start in (hours(2), hours(3)):  # equal to the end, and after it
        with pytest.raises(InputError) as info:
            materialize_view(session, view, store, start=start, end=hours(2), mode="backfill")
        assert info.value.message == (
            f"start {start.isoformat()} is not before end 2024-01-01T02:00:00+00:00"
        )
        assert info.value.details == {"field": "start"}
    assert _runs(session) == []


def test_an_incremental_run_at_or_past_its_start_is_up_to_date(
    session: Session, view: FeatureView
) -> None:
    store = MemoryOnlineStore()
    for start in (hours(2), hours(3)):
        run = materialize_view(session, view, store, start=start, end=hours(2))
        assert run == MaterializationRun(
            "", "driver_stats", "incremental", start, hours(2), "up-to-date", 0, 0.0, {}
        )
    assert _runs(session) == []
    assert store.count(view.online_namespace) == 0


def test_a_backfill_reads_only_its_range(session: Session, view: FeatureView) -> None:
    store = MemoryOnlineStore()
    # [1h, 2h): the 1h rows of both drivers; the 2h and 3h rows are outside
    run = materialize_view(session, view, store, start=hours(1), end=hours(2), mode="backfill")
    assert (run.mode, run.start, run.rows) == ("backfill", hours(1), 2)
    assert [r.event_us if r else None for r in store.read(view.online_namespace, ["1", "2"])] == [
        to_us(hours(1)),
        to_us(hours(1)),
    ]
    (row,) = _runs(session)
    assert (row["mode"], row["start"], row["end"]) == ("backfill", hours(1), hours(2))
    # [1h + 1us, 2h + 1us): the 1h rows are left out, the 2h row is in
    later = materialize_view(
        session,
        view,
        MemoryOnlineStore(),
        start=hours(1) + timedelta(microseconds=1),
        end=hours(2) + timedelta(microseconds=1),
        mode="backfill",
    )
    assert later.rows == 1


def test_the_watermark_is_per_store_and_layout_and_counts_only_successes(
    session: Session, tmp_path: Path, view: FeatureView
) -> None:
    store, other = MemoryOnlineStore(), MemoryOnlineStore()
    materialize_view(session, view, store, end=hours(2))
    materialize_view(session, view, store, end=hours(5))
    assert watermark(session, view, store) == hours(5)  # the greatest end
    assert watermark(session, view, other) is None
    retyped = FeatureView(
        "driver_stats",
        entities=view.entities,
        source=view.source,
        created_timestamp="created",
        features=[Feature("trips", "float64"), Feature("rating", "float64")],
    )
    assert watermark(session, retyped, store) is None  # another layout starts from nothing
    # a refused run of the same layout (a new rule) leaves the watermark where it was
    strict = _view(Path(view.source), rules=[Rule.between("trips", 0, 10)])
    assert strict.online_namespace == view.online_namespace
    with pytest.raises(ContractViolation):
        materialize_view(session, strict, store, start=hours(0), end=hours(9), mode="backfill")
    assert watermark(session, view, store) == hours(5)
    # the next incremental run starts there
    assert materialize_view(session, view, store, end=hours(6)).start == hours(5)


def test_a_contract_violation_is_recorded_whole(session: Session, tmp_path: Path) -> None:
    from modelward.data.contracts import Contract

    contract = Contract.model_validate(
        {"name": "driver_stats", "columns": {"rating": {"max": 4.6}}}
    )
    base = _view(write_stats(tmp_path / "stats.parquet"))
    view = FeatureView(
        "driver_stats",
        entities=base.entities,
        source=base.source,
        created_timestamp="created",
        features=base.features,
        contract=contract,
    )
    store = MemoryOnlineStore()
    with pytest.raises(ContractViolation) as info:
        materialize_view(session, view, store, end=hours(10))
    violations = [
        {
            "rule": "contract driver_stats: columns.rating.max",
            "column": "rating",
            "rows": 1,
            "message": "column 'rating': 1 row above 4.6 (observed max 4.7)",
            "examples": [{"driver_id": 1}],
        }
    ]
    assert info.value.details["violations"] == violations
    (row,) = _runs(session)
    assert row["report"]["violations"] == violations  # type: ignore[index]
    assert store.count(view.online_namespace) == 0
    assert list(session.workspace.tmp_dir.iterdir()) == []  # the checked batch file is gone


def test_a_backfill_answer_shows_its_start(session: Session, view: FeatureView) -> None:
    run = materialize_view(
        session, view, MemoryOnlineStore(), start=hours(1), end=hours(2), mode="backfill"
    )
    assert run.to_dict()["start"] == "2024-01-01T01:00:00+00:00"


def test_while_a_run_writes_its_row_says_running(session: Session, view: FeatureView) -> None:
    seen: list[tuple[object, object]] = []

    def progress(written: int, total: int) -> None:
        (row,) = _runs(session)
        seen.append((row["status"], row["rows"]))

    materialize_view(session, view, MemoryOnlineStore(), end=hours(10), progress=progress)
    assert seen == [("running", 0)]
    (row,) = _runs(session)
    assert (row["status"], row["rows"]) == ("succeeded", 2)


def test_a_run_records_its_statistics_under_its_id(session: Session, view: FeatureView) -> None:
    from modelward.features.tables import feature_stats

    run = materialize_view(session, view, MemoryOnlineStore(), end=hours(10))
    with session.store.read() as conn:
        (stats,) = conn.execute(select(feature_stats)).all()
    assert (stats.run_id, stats.view, stats.rows) == (run.id, "driver_stats", 2)


def test_without_an_end_a_run_ends_now_in_utc(session: Session, view: FeatureView) -> None:
    from datetime import UTC, datetime

    before = datetime.now(UTC)
    run = materialize_view(session, view, MemoryOnlineStore())
    assert run.end.tzinfo is not None
    assert before <= run.end <= datetime.now(UTC)
    assert run.to_dict()["end"].endswith("+00:00")


def test_times_in_another_zone_are_recorded_in_utc(
    session: Session, view: FeatureView, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time
    from zoneinfo import ZoneInfo

    monkeypatch.setenv("TZ", "Asia/Kolkata")  # the machine's own zone must not leak in
    time.tzset()
    try:
        kolkata = ZoneInfo("Asia/Kolkata")
        run = materialize_view(
            session,
            view,
            MemoryOnlineStore(),
            start=hours(1).astimezone(kolkata),
            end=hours(10).astimezone(kolkata),
            mode="backfill",
        )
    finally:
        monkeypatch.undo()
        time.tzset()
    assert (run.to_dict()["start"], run.to_dict()["end"]) == (
        "2024-01-01T01:00:00+00:00",
        "2024-01-01T10:00:00+00:00",
    )


def test_every_broken_rule_and_the_contract_are_reported_together(
    session: Session, tmp_path: Path
) -> None:
    from modelward.data.contracts import Contract

    path = tmp_path / "many.parquet"
    ts = pa.timestamp("us", "UTC")
    pq.write_table(
        pa.table(
            {
                "driver_id": pa.array([1, 2, 3, 4], pa.int64()),
                "event_timestamp": pa.array([hours(1)] * 4, ts),
                "trips": pa.array([50, 60, 70, 1], pa.int64()),
                "rating": pa.array([None, None, 4.0, 5.0]),
            }
        ),
        path,
    )
    view = FeatureView(
        "driver_stats",
        entities=[Entity("driver", "driver_id")],
        source=str(path),
        features=[Feature("trips", "int64"), Feature("rating", "float64")],
        rules=[Rule.between("trips", 0, 10), Rule.max_null_rate("rating", 0.25)],
        contract=Contract.model_validate({"name": "c", "columns": {"rating": {"max": 4.5}}}),
    )
    with pytest.raises(ContractViolation) as info:
        materialize_view(session, view, MemoryOnlineStore(), end=hours(10))
    rules = [v["rule"] for v in info.value.details["violations"]]
    assert len(rules) == 3, rules
    assert rules[0] == "trips between 0 and 10"
    assert rules[2] == "contract c: columns.rating.max"
    # two examples per rule at most, the rules joined by "; "
    assert info.value.message.startswith(
        "materialization of 'driver_stats' refused: rule 'trips between 0 and 10' broken by "
        "3 row(s), e.g. [{'driver_id': 1}, {'driver_id': 2}]; rule "
    )


def test_a_relative_source_is_read_from_the_workspace(session: Session) -> None:
    write_stats(session.workspace.root / "stats.parquet")
    view = _view(Path("stats.parquet"))
    run = materialize_view(session, view, MemoryOnlineStore(), end=hours(10))
    assert (run.status, run.rows) == ("succeeded", 2)
    assert run.report["source"] == str(session.workspace.root / "stats.parquet")


def test_a_source_problem_names_the_view_and_the_source(session: Session, tmp_path: Path) -> None:
    lacking = FeatureView(
        "driver_stats",
        entities=[Entity("driver", "driver_id")],
        source=str(write_stats(tmp_path / "stats.parquet")),
        features=[Feature("speed", "float64")],
    )
    with pytest.raises(InputError) as info:
        materialize_view(session, lacking, MemoryOnlineStore(), end=hours(10))
    assert info.value.message.startswith(
        f"feature view 'driver_stats': feature column 'speed' is not in source {tmp_path}"
    )
    unreadable = FeatureView(
        "broken",
        entities=[Entity("driver", "driver_id")],
        source="SELECT * FROM no_such_table",
        features=[Feature("trips", "int64")],
    )
    with pytest.raises(InputError) as info:
        materialize_view(session, unreadable, MemoryOnlineStore(), end=hours(10))
    assert info.value.message.startswith("feature view 'broken': cannot read source sql:")
