"""kill -9 in the middle of every write that matters; restart; nothing partial, nothing lost.

Each test runs the operation in a child process, stops it at a named point (see
:mod:`tests.integration.crash.harness`), kills it with SIGKILL and then, as a restarted
process would, opens the workspace again and checks: no half-written file or row is
visible, everything that was acknowledged is there, the audit chain verifies, and the
operation run again succeeds with the same result an uninterrupted run gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from modelward.config import Workspace
from modelward.data import list_snapshots, snapshot
from modelward.data.hashing import hash_batches
from modelward.features import Entity, Feature, FeatureView
from modelward.features.materialization import materialize_view, watermark
from modelward.features.online.memory import MemoryOnlineStore
from modelward.features.online.sqlite import SqliteOnlineStore
from modelward.features.tables import feature_runs
from modelward.security import audit
from modelward.session import Session
from tests.integration.crash.harness import kill_at
from tests.unit.registry.support import MLFLOW_WARNINGS

CHILD_SESSION = """
import sys
from modelward.config import Workspace
from modelward.session import Session
root, url = sys.argv[1], sys.argv[2]
env = {"MODELWARD_IDENTITY__USER": "tester"} | ({"MODELWARD_DATABASE_URL": url} if url else {})
session = Session(Workspace.open(root, environ=env))
"""


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as s:
        yield s


def _args(session: Session, workspace_env: dict[str, str]) -> tuple[str, str]:
    return str(session.workspace.root), workspace_env.get("MODELWARD_DATABASE_URL", "")


def _chain_ok(session: Session) -> int:
    with session.store.read() as conn:
        report = audit.verify(conn)
    assert report.ok, report
    return report.checked


def _actions(session: Session) -> list[str]:
    with session.store.read() as conn:
        return [e.action for e in audit.entries(conn)]


# --- a snapshot -------------------------------------------------------------------------------


def _source(root: Path) -> tuple[Path, str]:
    rows = 300_000  # three batches of the default 131,072 rows: progress reports mid-write
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "v": [i % 97 for i in range(rows)]})
    path = root / "big.parquet"
    pq.write_table(table, path)
    return path, hash_batches(table.schema, table.to_batches())


SNAPSHOT = """
from modelward.data import snapshot
from pathlib import Path
point = sys.argv[3]
if point == "publishing":
    pause_at("modelward.data.snapshots:_publish", point)
elif point == "recording":
    pause_at("modelward.data.snapshots:_insert", point)
elif point == "committing":
    pause_at("modelward.security.audit:record", point)

def progress(done, total):
    if point == "writing" and done >= 131_072:
        reached(point)

snapshot(Path(root) / "big.parquet", name="big", session=session, on_progress=progress)
"""


@pytest.mark.parametrize("point", ["writing", "publishing", "recording", "committing"])
def test_a_snapshot_killed_anywhere_leaves_nothing_half_done(
    session: Session, workspace_env: dict[str, str], point: str
) -> None:
    path, expected = _source(session.workspace.root)
    before = _chain_ok(session)
    kill_at(CHILD_SESSION + SNAPSHOT, *_args(session, workspace_env), point, label=point)

    assert list_snapshots(session) == []  # no record
    assert _chain_ok(session) == before  # and no audit entry without its record
    published = list((session.workspace.snapshots_dir).glob("*/*"))
    if point in ("writing", "publishing"):
        assert published == []
    else:
        # the folder was renamed into place whole: its content is exactly its name
        (folder,) = published
        table = pq.read_table(folder / "data.parquet")
        assert hash_batches(table.schema, table.to_batches()) == expected
        assert expected.endswith(folder.name)

    again = snapshot(path, name="big", session=session)
    assert (again.created, again.version, again.content_hash) == (True, 1, expected)
    assert again.row_count == 300_000
    # the dead process's write area was swept by the next snapshot
    assert [p.name for p in session.workspace.tmp_dir.glob("snap-*")] == []
    assert _actions(session)[-1] == "data.snapshot.create"
    _chain_ok(session)


# --- a materialization --------------------------------------------------------------------------

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def stats_view(root: Path) -> FeatureView:
    return FeatureView(
        "crash_stats",
        entities=[Entity("customer", "customer_id")],
        source=str(root / "stats.parquet"),
        features=[Feature("spend", "float64"), Feature("visits", "int64")],
        ttl=timedelta(days=30),
    )


def _write_stats(root: Path, customers: int = 6_000) -> None:
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array(range(customers), pa.int64()),
                "event_timestamp": pa.array(
                    [T0 + timedelta(minutes=i % 500) for i in range(customers)],
                    pa.timestamp("us", "UTC"),
                ),
                "spend": [i * 0.5 for i in range(customers)],
                "visits": pa.array([i % 13 for i in range(customers)], pa.int64()),
            }
        ),
        root / "stats.parquet",
    )


MATERIALIZE = """
from datetime import UTC, datetime
from pathlib import Path
from modelward.features.materialization import materialize_view
from modelward.features.online.sqlite import SqliteOnlineStore
from tests.integration.crash.test_kill9 import stats_view

store = SqliteOnlineStore(Path(root) / "online.db")

def progress(written, total):
    if written >= 1_000:
        reached("written")

materialize_view(session, stats_view(Path(root)), store, end=datetime(2024, 2, 1, tzinfo=UTC),
                 batch_rows=500, progress=progress)
"""


def test_a_materialization_killed_midway_moves_no_watermark_and_reruns_whole(
    session: Session, workspace_env: dict[str, str]
) -> None:
    root = session.workspace.root
    _write_stats(root)
    view = stats_view(root)
    end = datetime(2024, 2, 1, tzinfo=UTC)
    before = _chain_ok(session)
    kill_at(CHILD_SESSION + MATERIALIZE, *_args(session, workspace_env), label="written")

    store = SqliteOnlineStore(root / "online.db")
    try:
        assert watermark(session, view, store) is None  # the next run starts from the start
        with session.store.read() as conn:
            statuses = conn.execute(select(feature_runs.c.status)).scalars().all()
        assert statuses == ["running"]  # what a crash leaves: never "succeeded"
        assert _chain_ok(session) == before
        assert 0 < store.count(view.online_namespace) < 6_000  # some chunks were written

        rerun = materialize_view(session, view, store, end=end, batch_rows=500)
        assert (rerun.status, rerun.rows, rerun.start) == ("succeeded", 6_000, None)
        reference = MemoryOnlineStore()
        materialize_view(session, view, reference, end=end)
        keys = [str(i) for i in range(6_000)]
        assert store.read(view.online_namespace, keys) == reference.read(
            view.online_namespace, keys
        )
        assert watermark(session, view, store) == end
        _chain_ok(session)
    finally:
        store.close()


# --- a pipeline step ----------------------------------------------------------------------------

PIPELINE_STEP = """
from modelward.pipelines import run_pipeline
from tests.unit.pipelines import sample
# the step has run and its output is serialised under a temporary name, not yet renamed
pause_at("modelward.pipelines.cache:ObjectStore._publish", "publishing")
run_pipeline(session, sample.arith, {"n": 7}, executor="inline")
"""


def test_a_pipeline_killed_while_storing_a_step_output_leaves_no_partial_object(
    session: Session, workspace_env: dict[str, str]
) -> None:
    from modelward.pipelines import get_run, list_runs, load_output, run_pipeline
    from modelward.pipelines.cache import StoredValue
    from modelward.pipelines.engine import objects_of
    from modelward.pipelines.tables import pipeline_cache
    from tests.unit.pipelines import sample

    kill_at(CHILD_SESSION + PIPELINE_STEP, *_args(session, workspace_env), label="publishing")

    (killed,) = list_runs(session, "arith")
    assert killed.status == "running"
    objects = objects_of(session)
    assert [p for p in objects.root.rglob("*") if p.is_file()] == []
    with session.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(pipeline_cache)).scalar_one() == 0

    resumed = run_pipeline(session, sample.arith, {"n": 7}, executor="inline")
    assert resumed.ok and resumed.resumed_from == killed.id
    assert load_output(session, resumed, "total") == {"evens": 56.0, "odds": 35.0}
    assert get_run(session, killed.id).status == "interrupted"
    for file in (p for p in objects.root.rglob("*") if p.is_file()):
        codec = {"parquet": "arrow", "json": "json", "pkl": "pickle"}[file.suffix[1:]]
        objects.get(StoredValue(f"sha256:{file.stem}", codec, file.stat().st_size))  # verifies
    _chain_ok(session)


# --- a promotion ----------------------------------------------------------------------------------

PROMOTE = """
from modelward.registry import lifecycle
from modelward.security.roles import Principal, Role
point = sys.argv[3]
if point == "in the transaction":
    pause_at("modelward.security.audit:record", point,
             only_if=lambda *a, **k: k.get("action") == "model.promote")
else:
    pause_at("modelward.registry.lifecycle:mirror_aliases", point)
lifecycle.transition(session, Principal("root", Role.ADMIN), "churn@1", "Production",
                     reason="ship it")
"""


@pytest.mark.parametrize("point", ["in the transaction", "after the commit"])
@MLFLOW_WARNINGS[0]
@MLFLOW_WARNINGS[1]
def test_a_promotion_killed_midway_is_all_or_nothing(
    session: Session, workspace_env: dict[str, str], point: str
) -> None:
    from modelward.registry import get_version, lifecycle
    from modelward.security.roles import Principal, Role
    from tests.unit.registry.support import git_commit_all, make_snapshot, quick_version

    git_commit_all(session.workspace.root)
    train = make_snapshot(session, "customers")
    quick_version(session, "churn", auc=0.8, train=train)
    root = Principal("root", Role.ADMIN)
    lifecycle.set_approval_policy(session, root, "churn", "Production", 0)
    before = _chain_ok(session)

    kill_at(CHILD_SESSION + PROMOTE, *_args(session, workspace_env), point, label=point)

    version = get_version(session, "churn@1")
    history = lifecycle.history(session, "churn@1")
    if point == "in the transaction":
        assert (version.stage, history) == ("None", [])
        assert _chain_ok(session) == before
        assert "model.promote" not in _actions(session)
        done = lifecycle.transition(session, root, "churn@1", "Production", reason="again")
        assert done.to_stage == "Production"
    else:
        # committed: the stage, its transition record and its audit entry, together
        assert version.stage == "Production"
        assert [h["to_stage"] for h in history] == ["Production"]
        assert _chain_ok(session) == before + 1
        assert _actions(session)[-1] == "model.promote"
        assert lifecycle.mirror_aliases(session, "churn")  # the alias catches up on retry
    _chain_ok(session)


# --- an endpoint update ------------------------------------------------------------------------

UPDATE_ENDPOINT = """
from modelward.security.roles import Principal, Role
from modelward.serving.endpoints import EndpointSpec, update_endpoint
pause_at("modelward.security.audit:record", "updating",
         only_if=lambda *a, **k: k.get("action") == "endpoint.updated")
spec = EndpointSpec(name="churn", model="churn@production", request={"x": "float"},
                    latency_budget_ms=250)
update_endpoint(session, Principal("root", Role.ADMIN), spec)
"""


def test_an_endpoint_update_killed_in_its_transaction_changes_nothing(
    session: Session, workspace_env: dict[str, str]
) -> None:
    from modelward.security.roles import Principal, Role
    from modelward.serving.endpoints import (
        EndpointSpec,
        create_endpoint,
        get_endpoint,
        update_endpoint,
    )
    from tests.unit.registry.support import placeholder_version

    placeholder_version(session, "churn")  # a definition must name a registered model
    root = Principal("root", Role.ADMIN)
    spec = EndpointSpec(name="churn", model="churn@production", request={"x": "float"})
    create_endpoint(session, root, spec)
    before = _chain_ok(session)

    kill_at(CHILD_SESSION + UPDATE_ENDPOINT, *_args(session, workspace_env), label="updating")

    current = get_endpoint(session, "churn")
    assert (current.config_version, current.spec) == (1, spec)
    assert _chain_ok(session) == before
    changed = spec.model_copy(update={"latency_budget_ms": 250.0})
    assert update_endpoint(session, root, changed, expected_version=1).config_version == 2
    assert _actions(session)[-1] == "endpoint.updated"
    _chain_ok(session)


# --- a prediction-log flush ----------------------------------------------------------------------

FLUSH = """
import sys
from pathlib import Path
from modelward.monitoring.predictions import PredictionLogWriter, PredictionRecord
from modelward.monitoring.predictions.sqlite import SqlitePredictionSink

sink = SqlitePredictionSink(Path(sys.argv[1]) / "predictions.db")
real = sink.write
acked = 0

def write(batch):
    global acked
    real(batch)
    acked += len(batch)  # the sink returned: these records are acknowledged
    print(f"ACKED {acked}", flush=True)
    if acked == 200:
        print("REACHED acked 200", flush=True)  # and keep writing: the kill lands mid-flush

sink.write = write
writer = PredictionLogWriter(sink, batch_size=50, flush_interval_s=0.001)
for i in range(20_000):
    writer.submit(PredictionRecord(f"req-{i}", i, "churn", "m", "1", {"x": i, "s": "é"},
                                   i / 20_000, 1.0, False))
writer.start()
writer.flush(timeout_s=600)
"""


def test_a_prediction_log_killed_mid_flush_keeps_every_acknowledged_record(tmp_path: Path) -> None:
    from modelward.monitoring.predictions.sqlite import SqlitePredictionSink

    lines = kill_at(FLUSH, str(tmp_path), "", label="acked 200")
    acked = max(int(line.split()[1]) for line in lines if line.startswith("ACKED"))
    assert acked >= 200

    sink = SqlitePredictionSink(tmp_path / "predictions.db")
    try:
        logged = sink.read()
    finally:
        sink.close()
    # everything acknowledged is there, in order, once; at most the batch being written
    # when the kill came is there too, and then whole (a batch is one transaction)
    assert len(logged) >= acked
    assert len(logged) % 50 == 0 and len(logged) <= acked + 50
    assert [r.request_id for r in logged] == [f"req-{i}" for i in range(len(logged))]
    assert all(r.inputs == {"x": r.at_us, "s": "é"} for r in logged)
