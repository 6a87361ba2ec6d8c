"""Running one step as a worker does: the pipeline found again from where it was defined,
the step called with its inputs and parameters, its outputs stored, and a failing step an
outcome naming the error, never an exception; the result file written whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelward.errors import InputError
from modelward.pipelines import pipeline, step
from modelward.pipelines.cache import ObjectStore, StoredValue
from modelward.pipelines.worker import (
    execute,
    load_pipeline,
    peak_memory_bytes,
    pipeline_ref,
    run_task,
)
from tests.unit.pipelines import sample


def _objects(tmp_path: Path) -> ObjectStore:
    (tmp_path / "objects").mkdir(exist_ok=True)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return ObjectStore(tmp_path / "objects", tmp_path / "tmp")


def _task(step_name: str, **kw: Any) -> dict[str, Any]:
    return {"ref": pipeline_ref(sample.arith), "step": step_name, "run_id": "r1", **kw}


def test_a_module_level_pipeline_is_found_again_from_its_reference() -> None:
    ref = pipeline_ref(sample.arith)
    assert (ref["module"], ref["attr"]) == ("tests.unit.pipelines.sample", "arith")
    assert ref["file"].endswith("sample.py")
    assert load_pipeline(ref) is sample.arith


def test_a_pipeline_a_worker_cannot_import_is_refused_when_it_is_sent() -> None:
    @step
    def only() -> int:
        return 1

    local = pipeline("local", [only])
    with pytest.raises(InputError, match="define it at module level"):
        pipeline_ref(local)
    with pytest.raises(
        InputError, match=r"tests\.unit\.pipelines\.sample\.split is not a pipeline"
    ):
        load_pipeline({"module": "tests.unit.pipelines.sample", "file": "", "attr": "split"})
    with pytest.raises(InputError, match="cannot load module '__main__' in the worker"):
        load_pipeline({"module": "__main__", "file": "", "attr": "x"})


def test_a_step_gets_its_parameters_and_inputs_and_its_outputs_are_stored(
    tmp_path: Path,
) -> None:
    objects = _objects(tmp_path)
    numbers = execute(_task("numbers", params={"n": 4}), objects)
    assert numbers["ok"], numbers
    stored = StoredValue.from_dict(numbers["outputs"]["numbers"])
    assert objects.get(stored).column("sq").to_pylist() == [0, 1, 4, 9]
    halves = execute(_task("split", params={}, inputs={"numbers": stored.to_dict()}), objects)
    assert halves["ok"] and set(halves["outputs"]) == {"evens", "odds"}
    odds = objects.get(StoredValue.from_dict(halves["outputs"]["odds"]))
    assert odds == [1, 9]


def test_a_step_that_raises_is_an_outcome_with_the_error_and_its_traceback(
    tmp_path: Path,
) -> None:
    objects = _objects(tmp_path)
    rows = objects.put([1, 2, 3]).to_dict()
    task = {
        "ref": pipeline_ref(sample.failing),
        "step": "boom",
        "run_id": "r1",
        "params": {},
        "inputs": {"boom_source": rows},
    }
    outcome = execute(task, objects)
    assert outcome["ok"] is False
    assert outcome["error"] == "ValueError: no good: 3 values"
    assert "raise ValueError" in outcome["traceback"] and outcome["error_details"] is None
    unknown = execute({**task, "step": "nope"}, objects)
    assert unknown["ok"] is False and unknown["error_details"] is not None  # a modelward error


def test_run_task_writes_the_result_whole_with_the_peak_memory(tmp_path: Path) -> None:
    objects = _objects(tmp_path)
    task = _task(
        "numbers",
        params={"n": 2},
        objects_dir=str(objects.root),
        tmp_dir=str(objects.tmp_dir),
    )
    result_path = tmp_path / "result.json"
    run_task(task, result_path)
    result = json.loads(result_path.read_text())
    assert result["ok"] is True and result["peak_memory_bytes"] > 0
    assert not (tmp_path / "result.json.tmp").exists()
    assert (peak_memory_bytes() or 0) > 0
