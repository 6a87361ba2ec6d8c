"""The local engine's worker processes write what one process writes, at the same address.

The workers are forked from a server that imported the scoring code once, and the input's
SHA-256 is taken on a thread of the run's process while they start: nothing of that may
show in the output. A run started on two workers and finished on one (or the other way)
relies on both writing the same parts under the same content address.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.config import Workspace
from modelward.errors import StoreUnavailable
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving import BatchResult, EndpointSpec, batch_score
from modelward.serving.batch_engines import score_in_order
from modelward.serving.batch_input import open_input
from modelward.serving.batch_parts import PartFeatures, PartPlan, PartScorer
from modelward.serving.models import ObjectModelLoader, ResolvedModel, StaticModelResolver
from modelward.session import Session

ROWS = 500
PART = 100

SPEC = EndpointSpec(
    name="sums",
    model="sums@1",
    request={"customer_id": "int", "a": "float", "b": "float"},
    entity_keys=["customer_id"],
    model_inputs=["a", "b"],
)


class SumModel:
    """Importable by the workers, which unpickle the pinned model."""

    classes_ = np.array([0, 1])

    def predict_proba(self, x: Any) -> Any:
        p = 1 / (1 + np.exp(-x.sum(axis=1)))
        return np.column_stack([1 - p, p])


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


def _input(path: Path) -> Path:
    rng = np.random.default_rng(0)
    table = pa.table(
        {
            "customer_id": pa.array(np.arange(ROWS) * 7, pa.int64()),
            "a": rng.normal(size=ROWS),
            "b": rng.normal(size=ROWS),
        }
    )
    pq.write_table(table, path, row_group_size=70)  # row groups that do not match the parts
    return path


def _score(session: Session, source: Path, out: Path, workers: int) -> BatchResult:
    return batch_score(
        SPEC,
        source,
        out,
        session=session,
        key="customer_id",
        batch_rows=PART,
        resolver=StaticModelResolver(
            {"sums@1": ResolvedModel("sums", "1", "mem://s/1", SumModel())}
        ),
        loader=ObjectModelLoader(),
        workers=workers,
    )


def _parts(result: BatchResult) -> dict[str, pa.Table]:
    # the run id differs from run to run by design; every other column must not
    return {
        p.name: pq.read_table(p).drop_columns(["run_id"])
        for p in sorted(result.output.glob("part-*.parquet"))
    }


@pytest.mark.slow
def test_two_workers_write_the_parts_one_process_writes_under_the_same_address(
    session: Session, tmp_path: Path
) -> None:
    source = _input(tmp_path / "in.parquet")
    two = _score(session, source, tmp_path / "two", workers=2)
    one = _score(session, source, tmp_path / "one", workers=1)

    # hashed beside the workers' start, the input's hash is still its file's SHA-256
    assert two.input_hash == one.input_hash == hashlib.sha256(source.read_bytes()).hexdigest()
    assert two.output.name == one.output.name  # the engine is no part of the address
    got, want = _parts(two), _parts(one)
    assert list(got) == [f"part-{i:05d}.parquet" for i in range(ROWS // PART)]
    assert got.keys() == want.keys()
    for name in want:
        assert got[name].equals(want[name]), name
    rows = pa.concat_tables(got.values())
    assert rows["row_number"].to_pylist() == list(range(ROWS))  # every row once, in order
    assert rows["row_key"].to_pylist() == [7 * i for i in range(ROWS)]


@pytest.mark.slow
def test_a_rerun_on_workers_of_a_run_finished_in_one_process_is_skipped(
    session: Session, tmp_path: Path
) -> None:
    source = _input(tmp_path / "in.parquet")
    out = tmp_path / "out"
    first = _score(session, source, out, workers=1)
    again = _score(session, source, out, workers=2)

    assert again.skipped and (again.output, again.run_id) == (first.output, first.run_id)


class FailingLog(MemoryPredictionSink):
    """The in-memory log, its ``fail_at``-th table write refused (the store went away)."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at = fail_at
        self.writes = 0

    def write_table(self, endpoint: str, table: pa.Table) -> None:
        self.writes += 1
        if self.writes == self.fail_at:
            raise StoreUnavailable("prediction log unreachable", store="memory")
        super().write_table(endpoint, table)


def test_parts_scored_before_the_run_is_known_are_written_for_it_in_order(
    tmp_path: Path,
) -> None:
    """Parts scored while the input is hashed (the run's id and folder not known yet) are
    written for the run they are handed to; they all wait for the writer at once, and a
    write that fails stops the commits there: no later part is committed."""
    source = pq.read_table(_input(tmp_path / "in.parquet"))
    resolved = ResolvedModel("sums", "1", "mem://s/1", SumModel())
    plan = PartPlan(
        spec=SPEC,
        resolved=resolved,
        columns=["a", "b"],
        run_id="",
        key="customer_id",
        event_time=None,
        batch_rows=PART,
        work=Path(),
    )
    model = ObjectModelLoader().load(resolved, SPEC.output, plan.columns)
    sink = FailingLog(fail_at=3)
    unbound = PartScorer(plan, model, PartFeatures(None, SPEC, None, None), sink)
    ahead = [unbound.prepare(i, source.slice(i * PART, PART)) for i in range(ROWS // PART)]
    work = tmp_path / "run"
    work.mkdir()
    done: list[int] = []

    with pytest.raises(StoreUnavailable):
        score_in_order(
            unbound.for_run("r1", work),
            iter(ahead),
            resumed=False,
            on_done=lambda entry: done.append(entry["index"]),
            in_flight=len(ahead),
        )
    assert done == [0, 1]
    assert sorted(p.name for p in work.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    written = pq.read_table(sorted(work.glob("part-*.parquet")))
    assert set(written["run_id"].to_pylist()) == {"r1"}
    assert written["row_key"].to_pylist() == [7 * i for i in range(2 * PART)]
    assert [r.request_id for r in sink.read("sums")] == [f"r1/{i}" for i in range(2 * PART)]


@pytest.mark.parametrize("interpreter", ["own process", "no interpreter to start"])
def test_the_input_hash_is_the_files_sha256_wherever_it_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interpreter: str
) -> None:
    """Taken in a process of its own beside the run's start, or here when no interpreter can
    be started (an embedded Python): the same SHA-256 names the same output folder."""
    source = _input(tmp_path / "in.parquet")
    if interpreter != "own process":
        monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    opened = open_input(None, source, content_hash=False)
    assert opened.content_hash == ""  # not read yet
    hashed = opened.start_hash().result()
    assert hashed.content_hash == hashlib.sha256(source.read_bytes()).hexdigest()
    assert hashed.content_hash == open_input(None, source).content_hash
