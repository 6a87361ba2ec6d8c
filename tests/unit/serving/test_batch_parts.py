"""One part of a batch run: what it leaves on disk and in the log, what a resumed run reads
back from it, and the refusals that stop a run before it writes anything wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.errors import InputError, ModelUnavailable
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving import EndpointSpec
from modelward.serving.batch_parts import (
    PartFeatures,
    PartPlan,
    PartScorer,
    finished_part,
    part_name,
)
from modelward.serving.models import ObjectModelLoader, ResolvedModel

PART = 4
SPEC = EndpointSpec(
    name="sums",
    model="sums@1",
    request={"customer_id": "int", "a": "float", "email": "string"},
    entity_keys=["customer_id"],
    model_inputs=["a"],
    pii_fields=["email"],
)


class Doubling:
    """Answers 2a for every row (``predict``), or raises once ``broken``."""

    def __init__(self) -> None:
        self.broken = False

    def predict(self, x: Any) -> Any:
        if self.broken:
            raise ValueError("the model's weights are gone")
        return np.asarray(x)[:, 0] * 2


def scorer(work: Path, model: Any = None) -> tuple[PartScorer, MemoryPredictionSink]:
    resolved = ResolvedModel("sums", "1", "mem://sums/1", model or Doubling())
    plan = PartPlan(
        spec=SPEC,
        resolved=resolved,
        columns=["a"],
        run_id="run-1",
        key="customer_id",
        event_time=None,
        batch_rows=PART,
        work=work,
    )
    loaded = ObjectModelLoader().load(resolved, "predict", plan.columns)
    sink = MemoryPredictionSink()
    return PartScorer(plan, loaded, PartFeatures(None, SPEC, None, None), sink), sink


def rows(*values: Any) -> pa.Table:
    return pa.table(
        {
            "customer_id": [10 + i for i in range(len(values))],
            "a": pa.array(values, pa.float64()),
            "email": [f"c{i}@example.com" for i in range(len(values))],
        }
    )


def test_part_names_sort_in_part_order() -> None:
    assert part_name(7) == "part-00007.parquet"
    assert sorted([part_name(10), part_name(9)]) == [part_name(9), part_name(10)]


def test_a_part_writes_its_scores_its_rejects_and_its_log_lines(tmp_path: Path) -> None:
    part, sink = scorer(tmp_path)
    entry = part.score_part(1, rows(1.0, None, 3.0, float("nan")), dedupe_log=False)
    assert entry == {
        "index": 1,
        "file": "part-00001.parquet",
        "rows_in": 4,
        "rows_scored": 2,
        "rows_rejected": 2,
        "rejects_file": "rejects-00001.parquet",
        "resumed": False,
    }
    scores = pq.read_table(tmp_path / "part-00001.parquet").to_pylist()
    # part 1 starts at input row 4: row numbers are the input's, keys the key column's
    assert [(s["row_number"], s["row_key"], s["prediction"]) for s in scores] == [
        (4, 10, 2.0),
        (6, 12, 6.0),
    ]
    assert {(s["model"], s["model_version"], s["run_id"]) for s in scores} == {
        ("sums", "1", "run-1")
    }
    rejects = pq.read_table(tmp_path / "rejects-00001.parquet").to_pylist()
    assert [(r["row_number"], r["field"]) for r in rejects] == [(5, "a"), (7, "a")]
    logged = sink.read("sums")
    assert [r.request_id for r in logged] == ["run-1/4", "run-1/6"]
    assert {(r.mode, r.inputs["email"]) for r in logged} == {("batch", "[redacted]")}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "part-00001.parquet",
        "rejects-00001.parquet",
    ]  # no temporary file left beside them


def test_a_redone_part_logs_only_the_lines_not_there_yet(tmp_path: Path) -> None:
    part, sink = scorer(tmp_path)
    part.score_part(0, rows(1.0, 2.0), dedupe_log=False)
    part.score_part(0, rows(1.0, 2.0, 3.0), dedupe_log=True)  # a resumed run redoes part 0
    assert [r.request_id for r in sink.read("sums")] == ["run-1/0", "run-1/1", "run-1/2"]
    part.score_part(0, rows(1.0), dedupe_log=False)  # without dedupe the line repeats
    assert sink.count("sums") == 4


def test_a_resumed_run_reads_a_finished_parts_counts_from_disk(tmp_path: Path) -> None:
    part, _ = scorer(tmp_path)
    bad_twice = pa.table(
        {"customer_id": [1, None], "a": [1.0, None], "email": ["x", "y"]},
        schema=pa.schema(
            [("customer_id", pa.int64()), ("a", pa.float64()), ("email", pa.string())]
        ),
    )
    written = part.score_part(2, bad_twice, dedupe_log=False)
    read_back = finished_part(tmp_path, 2, rows_in=2)
    # the second row broke two rules: one rejected row, as when it was written
    assert written["rows_rejected"] == read_back["rows_rejected"] == 1
    assert read_back == {**written, "resumed": True}
    part.score_part(3, rows(1.0), dedupe_log=False)
    assert finished_part(tmp_path, 3, rows_in=1)["rejects_file"] is None


def test_a_part_of_only_refused_rows_writes_an_empty_part_and_logs_nothing(
    tmp_path: Path,
) -> None:
    part, sink = scorer(tmp_path)
    entry = part.score_part(0, rows(None, float("inf")), dedupe_log=False)
    assert (entry["rows_scored"], entry["rows_rejected"]) == (0, 2)
    assert pq.read_table(tmp_path / "part-00000.parquet").num_rows == 0
    assert sink.count("sums") == 0


def test_a_failing_model_stops_the_part_naming_its_rows_and_writes_nothing(
    tmp_path: Path,
) -> None:
    model = Doubling()
    part, sink = scorer(tmp_path, model)
    model.broken = True
    with pytest.raises(ModelUnavailable, match=r"model sums@1 failed on rows 8-11: ValueError"):
        part.score_part(2, rows(1.0, 2.0, 3.0, 4.0), dedupe_log=False)
    assert list(tmp_path.iterdir()) == [] and sink.count("sums") == 0


def test_a_scorer_bound_to_another_run_leaves_the_original_as_it_was(tmp_path: Path) -> None:
    part, sink = scorer(tmp_path)
    assert part.for_run("run-1", tmp_path) is part
    other = tmp_path / "other"
    other.mkdir()
    bound = part.for_run("run-2", other)
    bound.score_part(0, rows(1.0), dedupe_log=False)
    assert (part.run_id, part.plan.work) == ("run-1", tmp_path)
    assert pq.read_table(other / "part-00000.parquet")["run_id"].to_pylist() == ["run-2"]
    assert [r.request_id for r in sink.read("sums")] == ["run-2/0"]  # the same sink


def test_an_endpoint_reading_features_needs_a_session_or_a_catalog() -> None:
    reads_features = SPEC.model_copy(update={"features": ["customer_stats"]})
    with pytest.raises(InputError, match="endpoint 'sums' reads features: give a session"):
        PartFeatures(None, reads_features, None, None)


def test_a_worker_without_a_workspace_is_refused_before_it_loads_anything(
    tmp_path: Path,
) -> None:
    resolved = ResolvedModel("sums", "1", "mem://sums/1", Doubling())
    plan = PartPlan(SPEC, resolved, ["a"], "run-1", None, None, PART, tmp_path)
    with pytest.raises(InputError, match="loads the model through the workspace"):
        PartScorer.open(plan)
    with_loader = PartPlan(
        SPEC, resolved, ["a"], "run-1", None, None, PART, tmp_path, loader=ObjectModelLoader()
    )
    with pytest.raises(InputError, match="writes the workspace's prediction log"):
        PartScorer.open(with_loader)
