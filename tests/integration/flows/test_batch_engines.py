"""Batch scoring's engines: worker processes and Ray Data score the same parts as one process.

Each scores a small Parquet file with the workspace's SQLite prediction log (the workers
open it themselves) and is compared with the in-process run: the same predictions and
row keys, every input row once in the output and once in the log, the version pinned at
the start even when the stage moves during the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

from modelward.config import Workspace
from modelward.monitoring import open_workspace_log
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving import BatchResult, EndpointSpec, batch_score
from modelward.serving.models import ObjectModelLoader, ResolvedModel, StaticModelResolver
from modelward.session import Session
from tests import services

ROWS = 600
PART = 100


class Logistic:
    """Importable by the workers (they unpickle the pinned model)."""

    classes_ = np.array([0, 1])

    def predict_proba(self, x: Any) -> Any:
        p = 1 / (1 + np.exp(-x.sum(axis=1)))
        return np.column_stack([1 - p, p])


SPEC = EndpointSpec(
    name="sums",
    model="sums@production",
    request={"id": "int", "a": "float", "b": "float", "email": "string"},
    entity_keys=["id"],
    model_inputs=["a", "b"],
    pii_fields=["email"],
)


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


@pytest.fixture
def source(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "in.parquet"
    table = pa.table(
        {
            "id": np.arange(ROWS),
            "a": rng.normal(size=ROWS),
            "b": rng.normal(size=ROWS),
            "email": [f"c{i}@example.com" for i in range(ROWS)],
        }
    )
    pq.write_table(table, path, row_group_size=70)  # row groups that do not match the parts
    return path


def _score(
    session: Session, models: dict[str, ResolvedModel], source: Path, out: Path, **kw: Any
) -> BatchResult:
    return batch_score(
        SPEC,
        source,
        out,
        session=session,
        key="id",
        batch_rows=PART,
        resolver=StaticModelResolver(models),
        loader=ObjectModelLoader(),
        **kw,
    )


def _models() -> dict[str, ResolvedModel]:
    return {"sums@production": ResolvedModel("sums", "3", "mem://sums/3", Logistic())}


def _check_against_one_process(
    session: Session, result: BatchResult, source: Path, tmp_path: Path
) -> None:
    whole = _score(
        session, _models(), source, tmp_path / "whole", prediction_log=MemoryPredictionSink()
    )
    got = pq.read_table(sorted(result.output.glob("part-*.parquet")))
    want = pq.read_table(sorted(whole.output.glob("part-*.parquet")))
    assert got["row_key"].to_pylist() == list(range(ROWS))
    assert got["prediction"] == want["prediction"]
    assert set(got["model_version"].to_pylist()) == {"3"}
    log = open_workspace_log(session)
    try:
        records = log.read("sums")
    finally:
        log.close()
    ids = [r.request_id for r in records]
    assert len(ids) == len(set(ids)) == ROWS  # every row logged exactly once
    assert {r.model_version for r in records} == {"3"}
    assert {r.inputs["email"] for r in records} == {"[redacted]"}


@pytest.mark.slow
def test_worker_processes_score_the_same_parts_and_resume_after_a_crash(
    session: Session, source: Path, tmp_path: Path
) -> None:
    models = _models()
    out = tmp_path / "out"

    def crash_after_two_parts(done: int, total: int | None) -> None:
        if done >= 2 * PART:
            raise KeyboardInterrupt  # as a kill of the run's process would, mid-run

    with pytest.raises(KeyboardInterrupt):
        _score(session, models, source, out, workers=2, on_progress=crash_after_two_parts)
    (partial,) = out.iterdir()
    assert partial.name.endswith(".partial")  # nothing visible as a result

    def promote_mid_run(done: int, total: int | None) -> None:
        models["sums@production"] = ResolvedModel("sums", "9", "mem://sums/9", Logistic())

    result = _score(session, models, source, out, workers=2, on_progress=promote_mid_run)

    assert result.rows_scored == ROWS and result.resumed_parts >= 2
    assert result.model_version == "3"  # pinned at the start, recorded
    manifest = json.loads((result.output / "manifest.json").read_text())
    assert manifest["engine"] == {"kind": "local", "workers": 2, "address": None}
    assert manifest["model_version"] == "3"
    _check_against_one_process(session, result, source, tmp_path)


@pytest.mark.slow
def test_worker_processes_score_a_csv_read_by_the_run_and_a_parquet_read_by_themselves(
    session: Session, source: Path, tmp_path: Path
) -> None:
    # Parquet: each worker reads its own slices of parts; CSV (not readable from the
    # middle): the run reads it in order and sends each part. Either way, every row once
    csv = tmp_path / "in.csv"
    pa.csv.write_csv(pq.read_table(source), csv)
    for path, out in ((source, tmp_path / "from-parquet"), (csv, tmp_path / "from-csv")):
        result = _score(session, _models(), path, out, workers=2)
        got = pq.read_table(sorted(result.output.glob("part-*.parquet")))
        assert got["row_key"].to_pylist() == list(range(ROWS))
        assert got["row_number"].to_pylist() == list(range(ROWS))
        assert (result.rows_scored, result.parts) == (ROWS, ROWS // PART)
    log = open_workspace_log(session)
    try:
        ids = [r.request_id for r in log.read("sums")]
    finally:
        log.close()
    assert len(ids) == len(set(ids)) == 2 * ROWS  # two runs, each row logged once by each


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        message = "Ray is an optional extra: pip install 'modelward[ray]'"
        if services.in_ci():
            pytest.fail(f"{message}; CI=true forbids skipping the Ray engine test")
        pytest.skip(message)
    return ray


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
# raised by Ray Data's own DataContext as it is built, not by modelward code
@pytest.mark.filterwarnings("ignore::Warning:ray.data.context")
def test_ray_data_scores_the_same_parts_on_a_local_instance(
    session: Session, source: Path, tmp_path: Path
) -> None:
    ray = _ray()
    # one CPU, one actor: the test is about the same parts, not the speed-up (CPU budget)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        result = _score(session, _models(), source, tmp_path / "out", engine="ray", workers=1)
    finally:
        ray.shutdown()
    assert (result.rows_scored, result.parts) == (ROWS, ROWS // PART)
    manifest = json.loads((result.output / "manifest.json").read_text())
    assert manifest["engine"]["kind"] == "ray"
    _check_against_one_process(session, result, source, tmp_path)
