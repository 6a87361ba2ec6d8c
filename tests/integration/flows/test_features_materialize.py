"""Materialization into the online store, on every metadata backend."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from modelward.config import Workspace
from modelward.errors import ContractViolation, InputError
from modelward.features import (
    Catalog,
    Entity,
    Feature,
    FeatureLookup,
    FeatureView,
    OnlineStore,
    Record,
    Rule,
    materialize,
    stats_history,
)
from modelward.features.materialization import materialize_view, watermark
from modelward.features.online.memory import MemoryOnlineStore
from modelward.features.tables import feature_runs
from modelward.security import entries
from modelward.session import Session
from tests.unit.features.support import hours, write_stats


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as s:
        yield s


def make_view(path: Path, rules: Sequence[Rule] = ()) -> FeatureView:
    return FeatureView(
        "driver_stats",
        entities=[Entity("driver", "driver_id")],
        source=str(path),
        created_timestamp="created",
        features=[
            Feature("trips", "int64"),
            Feature("rating", "float64"),
            Feature("city", "string"),
        ],
        ttl=timedelta(hours=2),
        rules=rules,
    )


@pytest.fixture
def view(tmp_path: Path) -> FeatureView:
    return make_view(write_stats(tmp_path / "stats.parquet"))


def state(store: OnlineStore, view: FeatureView) -> list[Record | None]:
    return store.read(view.online_namespace, sorted(store.keys(view.online_namespace, 1000)))


def test_incremental_runs_move_the_watermark(session: Session, view: FeatureView) -> None:
    store = MemoryOnlineStore()
    first = materialize_view(session, view, store, end=hours(2.5))
    assert (first.rows, first.status) == (2, "succeeded")
    assert watermark(session, view, store) == hours(2.5)
    lookup = FeatureLookup(store, Catalog([view]))
    got = lookup.get({"driver_id": [1, 2, 3]}, ["driver_stats:trips"], at=hours(2.5))
    assert got.columns["trips"] == [21, 5, None]
    second = materialize_view(session, view, store, end=hours(10))
    assert second.start == hours(2.5)
    assert second.rows == 1  # only driver 2 has a newer row
    got = lookup.get({"driver_id": [1, 2]}, ["driver_stats:trips"], at=hours(3.5))
    assert got.columns["trips"] == [21, 0]
    assert got.event_timestamps["driver_stats"] == [hours(2), hours(3)]


def test_values_older_than_ttl_read_as_missing(session: Session, view: FeatureView) -> None:
    store = MemoryOnlineStore()
    materialize_view(session, view, store, end=hours(10))
    lookup = FeatureLookup(store, Catalog([view]))
    got = lookup.get([{"driver_id": 1}, {"driver_id": 2}], ["driver_stats"], at=hours(4.5))
    assert got.columns["trips"] == [None, 0]  # driver 1's value is 2.5h old, TTL is 2h
    assert got.event_timestamps["driver_stats"] == [None, hours(3)]


def test_backfill_twice_leaves_the_same_state(session: Session, view: FeatureView) -> None:
    store = MemoryOnlineStore()
    runs = materialize(
        [view], start=hours(0), end=hours(10), session=session, store=store, catalog=Catalog([view])
    )
    before = state(store, view)
    materialize(
        [view], start=hours(0), end=hours(10), session=session, store=store, catalog=Catalog([view])
    )
    # an older range afterwards does not take values back in time either
    materialize(
        [view],
        start=hours(0),
        end=hours(1.5),
        session=session,
        store=store,
        catalog=Catalog([view]),
    )
    assert state(store, view) == before
    assert runs[0].mode == "backfill"
    assert len(before) == 2


def test_violating_batch_is_refused_and_nothing_is_visible(
    session: Session, tmp_path: Path
) -> None:
    view = make_view(write_stats(tmp_path / "s.parquet"), [Rule.between("trips", 0, 10)])
    store = MemoryOnlineStore()
    with pytest.raises(ContractViolation, match=r"trips between 0 and 10.*broken by 1 row"):
        materialize_view(session, view, store, end=hours(10))
    assert store.count(view.online_namespace) == 0
    assert watermark(session, view, store) is None
    with session.store.read() as conn:
        run = conn.execute(select(feature_runs)).one()
    assert run.status == "refused"
    assert run.report["violations"][0]["examples"] == [{"driver_id": 1}]


class FlakyStore(MemoryOnlineStore):
    """Fails on the n-th write, as a crash or a lost connection would midway."""

    def __init__(self, fail_on: int) -> None:
        super().__init__()
        self.writes = 0
        self.fail_on = fail_on

    def write(self, namespace: str, records: Sequence[Record]) -> None:
        self.writes += 1
        if self.writes == self.fail_on:
            raise ConnectionError("lost the online store")
        super().write(namespace, records)


def test_interrupted_run_then_rerun_has_no_gaps_or_duplicates(
    session: Session, view: FeatureView
) -> None:
    clean = MemoryOnlineStore()
    materialize_view(session, view, clean, end=hours(10), batch_rows=1)
    flaky = FlakyStore(fail_on=2)
    with pytest.raises(ConnectionError):
        materialize_view(session, view, flaky, end=hours(10), batch_rows=1)
    assert flaky.count(view.online_namespace) == 1  # one batch landed before the failure
    assert watermark(session, view, flaky) is None  # a failed run never moves it
    rerun = materialize_view(session, view, flaky, end=hours(10), batch_rows=1)
    assert rerun.start is None  # started again from the beginning
    assert state(flaky, view) == state(clean, view)
    with session.store.read() as conn:
        statuses = [
            r.status for r in conn.execute(select(feature_runs).order_by(feature_runs.c.started_at))
        ]
    assert statuses == ["succeeded", "failed", "succeeded"]


def test_runs_record_rows_range_duration_stats_and_audit(
    session: Session, view: FeatureView
) -> None:
    store = MemoryOnlineStore()
    materialize_view(session, view, store, end=hours(2.5))
    materialize_view(session, view, store, end=hours(10))
    with session.store.read() as conn:
        runs = conn.execute(select(feature_runs).order_by(feature_runs.c.started_at)).all()
        audited = [e.action for e in entries(conn, target="feature_view:driver_stats")]
    assert [(r.rows, r.start, r.end) for r in runs] == [
        (2, None, hours(2.5)),
        (1, hours(2.5), hours(10)),
    ]
    assert all(r.duration_s is not None and r.duration_s >= 0 for r in runs)
    assert audited == ["features.materialize.succeeded"] * 2
    history = stats_history("driver_stats", session=session)
    assert [h["rows"] for h in history] == [1, 2]
    newest = history[0]
    assert newest["features"]["trips"]["mean"] == 0.0
    assert newest["freshness_s"] == pytest.approx(7 * 3600)
    assert newest["change"]["trips"]["mean"] == pytest.approx(0.0 - 13.0)


def test_naive_range_is_refused(session: Session, view: FeatureView) -> None:
    with pytest.raises(InputError, match="naive"):
        materialize_view(session, view, MemoryOnlineStore(), end=hours(1).replace(tzinfo=None))


def test_data_contract_is_checked_on_each_batch(session: Session, tmp_path: Path) -> None:
    from modelward.data.contracts import Contract

    contract = Contract.model_validate(
        {"name": "driver_stats", "columns": {"rating": {"max": 4.6}, "city": {"nullable": False}}}
    )
    base = make_view(write_stats(tmp_path / "s.parquet"))
    view = FeatureView(
        "driver_stats",
        entities=base.entities,
        source=base.source,
        created_timestamp="created",
        features=base.features,
        contract=contract,
    )
    store = MemoryOnlineStore()
    with pytest.raises(ContractViolation, match=r"contract driver_stats: columns\.rating\.max"):
        materialize_view(session, view, store, end=hours(10))
    assert store.count(view.online_namespace) == 0
    assert not list(session.workspace.tmp_dir.glob("features-batch-*"))
