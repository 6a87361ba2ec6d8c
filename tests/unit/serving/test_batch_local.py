"""Scoring in the run's own process (``batch_local``): parts scored ahead while the
input is hashed stay bounded, and every row is committed once, in part order, for the run
it is handed to, whether it was scored ahead or after the hash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving import batch_local
from modelward.serving.batch_input import open_input
from modelward.serving.batch_local import LocalScoring, score_here
from modelward.serving.batch_parts import PartPlan
from modelward.serving.models import ObjectModelLoader, ResolvedModel
from tests.unit.serving.test_batch_engines import PART, ROWS, SPEC, SumModel, _input


def _plan() -> PartPlan:
    return PartPlan(
        spec=SPEC,
        resolved=ResolvedModel("sums", "1", "mem://s/1", SumModel()),
        columns=["a", "b"],
        run_id="",
        key="customer_id",
        event_time=None,
        batch_rows=PART,
        work=Path(),
    )


def _scoring(sink: MemoryPredictionSink) -> LocalScoring:
    return LocalScoring.open(_plan(), ObjectModelLoader(), sink, None)


@pytest.mark.parametrize(("bound", "hash_done_after", "ahead"), [(8, 99, 5), (2, 99, 2), (8, 3, 3)])
def test_parts_scored_ahead_stop_at_the_bound_or_when_the_hash_is_done(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bound: int,
    hash_done_after: int,
    ahead: int,
) -> None:
    monkeypatch.setattr(batch_local, "_AHEAD_PARTS", bound)
    source = open_input(None, _input(tmp_path / "in.parquet"), content_hash=False)
    local = _scoring(MemoryPredictionSink())
    asked = [0]

    def hash_done() -> bool:
        asked[0] += 1
        return asked[0] > hash_done_after

    local.score_ahead(source, hash_done)
    assert [p.index for p in local.ahead] == list(range(ahead))
    local.close()


@pytest.mark.parametrize("bound", [0, 2, 8])
def test_every_row_is_committed_once_in_part_order_for_the_run_it_is_handed_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bound: int
) -> None:
    monkeypatch.setattr(batch_local, "_AHEAD_PARTS", bound)
    source = open_input(None, _input(tmp_path / "in.parquet"), content_hash=False)
    sink = MemoryPredictionSink()
    local = _scoring(sink)
    local.score_ahead(source, lambda: False)
    work = tmp_path / "run"
    work.mkdir()
    parts = score_here(local, source, work, "run-1", None, resumed=False)
    local.close()

    assert [p["index"] for p in parts] == list(range(ROWS // PART))
    written = pa.concat_tables(pq.read_table(work / p["file"]) for p in parts)
    assert written.column("row_number").to_pylist() == list(range(ROWS))
    assert written.column("row_key").to_pylist() == [7 * i for i in range(ROWS)]
    assert set(written.column("run_id").to_pylist()) == {"run-1"}
    a, b = pq.read_table(tmp_path / "in.parquet", columns=["a", "b"]).columns
    expected = 1 / (1 + np.exp(-(a.to_numpy() + b.to_numpy())))
    np.testing.assert_allclose(written.column("prediction").to_numpy(), expected)
    logged = sink.read("sums")
    assert sorted(r.request_id for r in logged) == sorted(f"run-1/{i}" for i in range(ROWS))
