"""The Ray engine's own parts, without a cluster: the actor reads its part by number and
writes what the local engine writes, Ray missing or unreachable is a refusal naming the
option, and nothing starts for no parts.

(Parts scored on a real local Ray instance: tests/integration/flows/test_batch_engines.py.)"""

from __future__ import annotations

import builtins
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.errors import ConfigError
from modelward.serving import EndpointSpec
from modelward.serving.batch_input import open_input
from modelward.serving.batch_parts import PartPlan
from modelward.serving.batch_ray import RayEngine, _import_ray, _PartActor
from modelward.serving.models import ObjectModelLoader, ResolvedModel

SPEC = EndpointSpec(name="sums", model="sums@1", request={"a": "float"}, model_inputs=["a"])


class Doubling:
    def predict(self, x: Any) -> Any:
        return np.asarray(x)[:, 0] * 2


def plan(work: Path) -> PartPlan:
    return PartPlan(
        spec=SPEC,
        resolved=ResolvedModel("sums", "1", "mem://sums/1", Doubling()),
        columns=["a"],
        run_id="run-1",
        key=None,
        event_time=None,
        batch_rows=3,
        work=work,
        loader=ObjectModelLoader(),
        sink_config={"type": "memory"},
    )


def test_an_actor_scores_the_parts_it_is_given_by_number(tmp_path: Path) -> None:
    source_path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"a": [float(i) for i in range(8)]}), source_path, row_group_size=2)
    work = tmp_path / "work"
    work.mkdir()
    extra = str(tmp_path / "driver-modules")
    actor = _PartActor(plan(work), open_input(None, source_path), frozenset(), [extra])
    assert extra in sys.path  # the driver's import path, for a test's or a notebook's modules
    sys.path.remove(extra)
    answer = actor({"index": np.array([2, 0]), "dedupe": np.array([False, False])})
    entries = [json.loads(e) for e in answer["entry"]]
    assert [(e["index"], e["rows_in"], e["rows_scored"]) for e in entries] == [(2, 2, 2), (0, 3, 3)]
    part = pq.read_table(work / "part-00002.parquet")
    assert part["row_number"].to_pylist() == [6, 7]
    assert part["prediction"].to_pylist() == [12.0, 14.0]


def test_without_ray_installed_the_engine_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_import = builtins.__import__

    def no_ray(name: str, *args: Any, **kw: Any) -> Any:
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ConfigError, match=r"pip install 'modelward\[ray\]'") as refused:
        _import_ray()
    assert refused.value.details["field"] == "engine"


def test_no_parts_to_score_starts_nothing(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    engine = RayEngine(plan(tmp_path), workers=0, address="ray://127.0.0.1:1")
    assert engine.workers == 1
    done: list[Any] = []
    engine.run_indices(None, [], frozenset(), resumed=False, on_done=done.append)  # type: ignore[arg-type]
    assert done == [] and not ray.is_initialized()  # no connection was tried


def test_the_ray_engine_reads_its_own_parts(tmp_path: Path) -> None:
    with pytest.raises(NotImplementedError, match="run_indices"):
        RayEngine(plan(tmp_path), 2, None).run(iter([]), resumed=False, on_done=print)
