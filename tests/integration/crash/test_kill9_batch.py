"""kill -9 of a batch scoring run, then the run again: every row scored once, logged once.

The child scores a Parquet file into parts with the workspace's SQLite prediction log and
is killed at a named point; the parent, as a restarted process would, runs the same
command again and compares with an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.config import Workspace
from modelward.monitoring import open_workspace_log
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving import EndpointSpec, batch_score
from modelward.serving.models import ObjectModelLoader, ResolvedModel, StaticModelResolver
from modelward.session import Session
from tests.integration.crash.harness import kill_at

ROWS = 1_000
PART = 200

CHILD = """
import sys
from pathlib import Path
import numpy as np
from modelward.config import Workspace
from modelward.serving import EndpointSpec, batch_score
from modelward.serving.models import ObjectModelLoader, ResolvedModel, StaticModelResolver
from modelward.session import Session

root, source, out, part, when = sys.argv[1:6]

class Logistic:
    classes_ = np.array([0, 1])
    def predict_proba(self, x):
        p = 1 / (1 + np.exp(-x.sum(axis=1)))
        return np.column_stack([1 - p, p])

if when == "inside":  # the temporary file is written, the rename never happens
    pause_at("os:replace", "stopped",
             only_if=lambda src, dst: Path(dst).name == part)
else:
    pause_at("modelward.serving.batch_parts:write_parquet", "stopped", when=when,
             only_if=lambda path, table: path.name == part)
session = Session(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "tester"}))
batch_score(
    EndpointSpec(name="sums", model="sums@1", request={"id": "int", "a": "float", "b": "float"},
                 entity_keys=["id"]),
    source, out, session=session, key="id", batch_rows=200,
    resolver=StaticModelResolver(
        {"sums@1": ResolvedModel("sums", "1", "mem://sums/1", Logistic())}
    ),
    loader=ObjectModelLoader(),
)
"""


class Logistic:
    classes_ = np.array([0, 1])

    def predict_proba(self, x: Any) -> Any:
        p = 1 / (1 + np.exp(-x.sum(axis=1)))
        return np.column_stack([1 - p, p])


SPEC = EndpointSpec(
    name="sums",
    model="sums@1",
    request={"id": "int", "a": "float", "b": "float"},
    entity_keys=["id"],
)


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


def _score(session: Session, source: Path, out: Path, **kw: Any) -> Any:
    return batch_score(
        SPEC,
        source,
        out,
        session=session,
        key="id",
        batch_rows=PART,
        resolver=StaticModelResolver(
            {"sums@1": ResolvedModel("sums", "1", "mem://sums/1", Logistic())}
        ),
        loader=ObjectModelLoader(),
        **kw,
    )


@pytest.mark.parametrize(
    ("part", "when", "kept"),
    [
        # killed after part 2 was renamed into place: parts 0-2 are kept
        ("part-00002.parquet", "after", 3),
        # killed with part 1's log lines written but the part not yet renamed: redone,
        # and its log lines are not written twice
        ("part-00001.parquet", "before", 1),
        ("part-00000.parquet", "before", 0),
        # killed inside part 3's write: its temporary file is swept, the part redone
        ("part-00003.parquet", "inside", 3),
    ],
)
def test_a_killed_batch_run_resumes_and_scores_every_row_once(
    session: Session, tmp_path: Path, part: str, when: str, kept: int
) -> None:
    source = tmp_path / "in.parquet"
    rng = np.random.default_rng(0)
    pq.write_table(
        pa.table({"id": np.arange(ROWS), "a": rng.normal(size=ROWS), "b": rng.normal(size=ROWS)}),
        source,
    )
    out = tmp_path / "out"
    root = str(session.workspace.root)
    kill_at(CHILD, root, str(source), str(out), part, when, label="stopped")
    (partial,) = out.iterdir()
    assert partial.name.endswith(".partial")  # no result visible
    left = [p.name for p in partial.glob(".*.tmp")]
    assert bool(left) == (when == "inside")  # only a kill inside the write leaves one
    assert all(name.startswith(f".{part}.") for name in left)

    resumed = _score(session, source, out)
    whole = _score(session, source, tmp_path / "whole", prediction_log=MemoryPredictionSink())

    assert (resumed.resumed_parts, resumed.rows_scored) == (kept, ROWS)
    assert sorted(p.name for p in resumed.output.iterdir()) == [
        "manifest.json",
        *(f"part-{i:05d}.parquet" for i in range(ROWS // PART)),
    ]
    got = pq.read_table(sorted(resumed.output.glob("part-*.parquet")))
    want = pq.read_table(sorted(whole.output.glob("part-*.parquet")))
    assert got["row_key"].to_pylist() == list(range(ROWS))
    assert got["prediction"] == want["prediction"]
    log = open_workspace_log(session)
    try:
        ids = [r.request_id for r in log.read("sums")]
    finally:
        log.close()
    assert len(ids) == len(set(ids)) == ROWS


CHILD_WORKERS = """
import sys
from modelward.config import Workspace
from modelward.serving import EndpointSpec, batch_score
from modelward.serving.models import ObjectModelLoader, ResolvedModel, StaticModelResolver
from modelward.session import Session
from tests.integration.crash.test_kill9_batch import Logistic  # importable by the workers

root, source, out = sys.argv[1:4]
# killed once the first part is back: the other parts in flight are mid-way in the workers
pause_at("modelward.serving.batch_engines:_collect", "stopped", when="after")
session = Session(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "tester"}))
batch_score(
    EndpointSpec(name="sums", model="sums@1", request={"id": "int", "a": "float", "b": "float"},
                 entity_keys=["id"]),
    source, out, session=session, key="id", batch_rows=200, workers=2,
    resolver=StaticModelResolver(
        {"sums@1": ResolvedModel("sums", "1", "mem://sums/1", Logistic())}
    ),
    loader=ObjectModelLoader(),
)
"""


@pytest.mark.slow
def test_a_run_killed_on_two_workers_is_finished_on_one_with_every_row_once(
    session: Session, tmp_path: Path
) -> None:
    source = tmp_path / "in.parquet"
    rng = np.random.default_rng(0)
    pq.write_table(
        pa.table({"id": np.arange(ROWS), "a": rng.normal(size=ROWS), "b": rng.normal(size=ROWS)}),
        source,
    )
    out = tmp_path / "out"
    kill_at(CHILD_WORKERS, str(session.workspace.root), str(source), str(out), label="stopped")
    (partial,) = out.iterdir()
    assert partial.name.endswith(".partial")  # no result visible

    resumed = _score(session, source, out)  # one process now: the engine is not the digest
    whole = _score(session, source, tmp_path / "whole", prediction_log=MemoryPredictionSink())

    assert resumed.rows_scored == ROWS and resumed.resumed_parts >= 1
    got = pq.read_table(sorted(resumed.output.glob("part-*.parquet")))
    assert got["row_key"].to_pylist() == list(range(ROWS))
    assert (
        got["prediction"]
        == pq.read_table(sorted(whole.output.glob("part-*.parquet")))["prediction"]
    )
    log = open_workspace_log(session)
    try:
        ids = [r.request_id for r in log.read("sums")]
    finally:
        log.close()
    assert len(ids) == len(set(ids)) == ROWS
