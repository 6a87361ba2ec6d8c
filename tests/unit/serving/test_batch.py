"""Batch scoring: rejects, point-in-time features, resume, skipped reruns, a pinned version.

In-process and small: an in-memory model through the gateway's own loader, the in-memory
prediction log, a few hundred rows cut into parts of 40.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.config import Workspace
from modelward.errors import InputError, StoreUnavailable
from modelward.features import Catalog, Entity, Feature, FeatureView
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving import BatchResult, EndpointSpec, batch_score
from modelward.serving.models import ObjectModelLoader, ResolvedModel, StaticModelResolver
from modelward.session import Session

ROWS = 200
PART = 40


class SumModel:
    """P(positive) = a known function of the inputs, so outputs are checked exactly."""

    classes_ = np.array([0, 1])

    def predict_proba(self, x: Any) -> Any:
        p = 1 / (1 + np.exp(-x.sum(axis=1)))
        return np.column_stack([1 - p, p])


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


@pytest.fixture
def models() -> dict[str, ResolvedModel]:
    return {"sums@production": ResolvedModel("sums", "3", "mem://sums/3", SumModel())}


SPEC = EndpointSpec(
    name="sums",
    model="sums@production",
    request={"customer_id": "int", "a": "float", "b": "float", "email": "string"},
    entity_keys=["customer_id"],
    model_inputs=["a", "b"],
    pii_fields=["email"],
)


def _input(path: Path, rows: int = ROWS) -> Path:
    rng = np.random.default_rng(0)
    table = pa.table(
        {
            "customer_id": pa.array(np.arange(rows), pa.int64()),
            "a": rng.normal(size=rows),
            "b": rng.normal(size=rows),
            "email": [f"c{i}@example.com" for i in range(rows)],
        }
    )
    pq.write_table(table, path)
    return path


def _score(
    session: Session,
    models: dict[str, ResolvedModel],
    source: Path | str,
    out: Path,
    **kw: Any,
) -> tuple[BatchResult, MemoryPredictionSink]:
    sink = kw.pop("prediction_log", None) or MemoryPredictionSink()
    result = batch_score(
        kw.pop("target", SPEC),
        source,
        out,
        session=session,
        resolver=StaticModelResolver(models),
        loader=ObjectModelLoader(),
        prediction_log=sink,
        batch_rows=PART,
        **kw,
    )
    return result, sink


def _scores(result: BatchResult) -> pa.Table:
    return pq.read_table(sorted(result.output.glob("part-*.parquet"))).sort_by("row_number")


def test_every_row_is_scored_with_version_run_and_key_and_logged_as_batch(
    session: Session, models: dict[str, ResolvedModel], tmp_path: Path
) -> None:
    source = _input(tmp_path / "in.parquet")
    result, sink = _score(session, models, source, tmp_path / "out", key="customer_id")

    assert (result.rows_in, result.rows_scored, result.rows_rejected) == (ROWS, ROWS, 0)
    assert result.parts == ROWS // PART and not result.skipped
    scores = _scores(result)
    table = pq.read_table(source)
    x = np.column_stack([table["a"].to_numpy(), table["b"].to_numpy()])
    assert np.allclose(scores["prediction"].to_numpy(), 1 / (1 + np.exp(-x.sum(axis=1))))
    assert scores["row_key"].to_pylist() == list(range(ROWS))
    assert set(scores["model_version"].to_pylist()) == {"3"}
    assert set(scores["run_id"].to_pylist()) == {result.run_id}
    manifest = json.loads((result.output / "manifest.json").read_text())
    assert manifest["model_version"] == "3" and manifest["rows_scored"] == ROWS
    assert [p["file"] for p in manifest["parts"]] == [f"part-{i:05d}.parquet" for i in range(5)]
    # nothing else is visible beside the finished directory
    assert [p.name for p in (tmp_path / "out").iterdir()] == [result.output.name]

    logged = sink.read("sums")
    assert len(logged) == ROWS
    assert {r.mode for r in logged} == {"batch"}
    assert {r.model_version for r in logged} == {"3"}
    first = next(r for r in logged if r.request_id == f"{result.run_id}/0")
    assert first.inputs["email"] == "[redacted]"
    assert first.inputs["a"] == table["a"][0].as_py()


def test_bad_rows_go_to_rejects_with_field_and_rule_and_the_run_goes_on(
    session: Session, models: dict[str, ResolvedModel], tmp_path: Path
) -> None:
    csv = tmp_path / "in.csv"
    lines = ["customer_id,a,b,email"]
    lines += [f"{i},0.5,0.25,c{i}@example.com" for i in range(50)]
    lines[3] = "2,abc,0.25,c2@example.com"  # not a number
    lines[5] = "4,0.5,,c4@example.com"  # empty: the field is missing
    lines[7] = "6,nan,0.25,secret@example.com"  # not finite
    lines[9] = "8.5,0.5,0.25,c8@example.com"  # not an integer
    csv.write_text("\n".join(lines) + "\n")

    result, sink = _score(session, models, csv, tmp_path / "out")

    assert (result.rows_in, result.rows_scored, result.rows_rejected) == (50, 46, 4)
    rejects = pq.read_table(sorted(result.output.glob("rejects-*.parquet"))).to_pylist()
    found = {(r["row_number"], r["field"], r["rule"]) for r in rejects}
    assert found == {
        (2, "a", "must be a finite number"),
        (4, "b", "is required"),
        (6, "a", "must be a finite number"),
        (8, "customer_id", "must be a 64-bit integer"),
    }
    assert {r["value"] for r in rejects if r["row_number"] == 2} == {"abc"}
    assert "secret@example.com" not in json.dumps(rejects)
    assert sorted(_scores(result)["row_number"].to_pylist()) == [
        i for i in range(50) if i not in (2, 4, 6, 8)
    ]
    assert sink.count("sums") == 46


def test_point_in_time_features_from_the_offline_store(
    session: Session, models: dict[str, ResolvedModel], tmp_path: Path
) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    stats = tmp_path / "stats.parquet"
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1, 1, 2], pa.int64()),
                "spend": [10.0, 20.0, 5.0],
                "updated_at": pa.array(
                    [t0, t0 + timedelta(days=10), t0 + timedelta(days=30)],
                    pa.timestamp("us", "UTC"),
                ),
            }
        ),
        stats,
    )
    customer = Entity("customer", ["customer_id"])
    view = FeatureView(
        "stats",
        entities=[customer],
        source=str(stats),
        timestamp="updated_at",
        features=[Feature("spend", "float64")],
    )
    spec = EndpointSpec(
        name="spend",
        model="sums@production",
        request={"customer_id": "int", "a": "float"},
        entity_keys=["customer_id"],
        features=["stats:spend"],
    )
    source = tmp_path / "in.parquet"
    when = [t0 + timedelta(days=d) for d in (5, 15, 15, 40)]
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1, 1, 2, 2], pa.int64()),
                "a": [0.0, 0.0, 0.0, 0.0],
                "event_timestamp": pa.array(when, pa.timestamp("us", "UTC")),
            }
        ),
        source,
    )

    result, sink = _score(
        session, models, source, tmp_path / "out", target=spec, catalog=Catalog([view])
    )

    # customer 2 at day 15 has no value yet (its first row is at day 30): rejected, named
    rejects = pq.read_table(sorted(result.output.glob("rejects-*.parquet"))).to_pylist()
    assert [(r["row_number"], r["field"]) for r in rejects] == [(2, "spend")]
    assert "point-in-time" in rejects[0]["rule"]
    seen = {r.request_id.split("/")[1]: r.inputs["spend"] for r in sink.read("spend")}
    assert seen == {"0": 10.0, "1": 20.0, "3": 5.0}  # the value as of each row's time


def test_a_killed_run_resumes_from_its_last_finished_part(
    session: Session, models: dict[str, ResolvedModel], tmp_path: Path
) -> None:
    source = _input(tmp_path / "in.parquet")
    out = tmp_path / "out"
    sink = MemoryPredictionSink()

    def crash_after_two_parts(done: int, total: int | None) -> None:
        if done == 2 * PART:
            raise KeyboardInterrupt  # as a kill would: no clean-up runs

    with pytest.raises(KeyboardInterrupt):
        _score(session, models, source, out, prediction_log=sink, on_progress=crash_after_two_parts)
    assert [p.name for p in out.iterdir()] == [next(out.iterdir()).name]
    assert next(out.iterdir()).name.endswith(".partial")  # not visible as a result

    resumed, _ = _score(session, models, source, out, prediction_log=sink)
    whole, _ = _score(session, models, source, tmp_path / "whole")

    # parts 0 and 1 at least; the parts scored while the input was hashed are all in the
    # writer's hands, and the writer finishes the one it is writing at the stop, so how many
    # more were kept depends on the machine's timing (seen: 2 to 4 of the 5)
    assert 2 <= resumed.resumed_parts <= ROWS // PART and resumed.rows_scored == ROWS
    assert _scores(resumed)["prediction"] == _scores(whole)["prediction"]
    assert set(_scores(resumed)["run_id"].to_pylist()) == {resumed.run_id}
    ids = [r.request_id for r in sink.read("sums")]
    assert len(ids) == len(set(ids)) == ROWS  # every row logged exactly once


def test_the_part_being_written_at_the_kill_is_logged_once(
    session: Session, models: dict[str, ResolvedModel], tmp_path: Path
) -> None:
    """Killed after the log write of part 1 but before its rename: the redo logs nothing twice."""
    source = _input(tmp_path / "in.parquet")
    out = tmp_path / "out"
    sink = MemoryPredictionSink()
    first, _ = _score(session, models, source, tmp_path / "ref", prediction_log=sink)
    partial = out / f".{first.output.name}.partial"
    partial.parent.mkdir()
    (first.output / "manifest.json").unlink()
    (first.output / "part-00004.parquet").unlink()
    # the reference run's directory, as a kill before the last part's rename leaves it
    first.output.rename(partial)
    (partial / "run.json").write_text(
        json.dumps(
            {
                "run_id": first.run_id,
                "started_at": "2026-01-01T00:00:00+00:00",
                "endpoint": "sums",
                "endpoint_config_version": None,
                "model": "sums",
                "model_version": "3",
                "model_uri": "mem://sums/3",
                "input": str(source),
                "input_kind": "parquet",
                "input_hash": first.input_hash,
                "key": None,
                "event_time": None,
                "batch_rows": PART,
                "digest": first.output.name,
            }
        )
    )

    resumed, _ = _score(session, models, source, out, prediction_log=sink)

    assert resumed.resumed_parts == 4 and resumed.run_id == first.run_id
    ids = [r.request_id for r in sink.read("sums")]
    assert len(ids) == len(set(ids)) == ROWS


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


def test_a_log_write_failing_on_the_writer_thread_stops_the_run_and_the_rerun_logs_once(
    session: Session, models: dict[str, ResolvedModel], tmp_path: Path
) -> None:
    """Parts are written on a writer thread while the next is scored: a write's error stops
    the run in its caller, the parts before it stay committed, none after it is."""
    source = _input(tmp_path / "in.parquet")
    out = tmp_path / "out"
    sink = FailingLog(fail_at=3)
    done: list[int] = []

    with pytest.raises(StoreUnavailable):
        _score(
            session,
            models,
            source,
            out,
            prediction_log=sink,
            on_progress=lambda d, t: done.append(d),
        )
    assert done == [PART, 2 * PART]  # parts 0 and 1 committed, in order
    (partial,) = out.iterdir()
    assert sorted(p.name for p in partial.glob("part-*.parquet")) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]

    sink.fail_at = 0
    resumed, _ = _score(session, models, source, out, prediction_log=sink)
    assert (resumed.resumed_parts, resumed.rows_scored) == (2, ROWS)
    assert _scores(resumed)["row_number"].to_pylist() == list(range(ROWS))
    ids = [r.request_id for r in sink.read("sums")]
    assert len(ids) == len(set(ids)) == ROWS


def test_an_identical_rerun_is_skipped_and_a_new_version_is_not(
    session: Session, models: dict[str, ResolvedModel], tmp_path: Path
) -> None:
    source = _input(tmp_path / "in.parquet")
    out = tmp_path / "out"
    first, _ = _score(session, models, source, out)
    again, sink = _score(session, models, source, out)

    assert again.skipped and again.output == first.output and again.run_id == first.run_id
    assert sink.count() == 0  # nothing scored, nothing logged

    models["sums@production"] = ResolvedModel("sums", "4", "mem://sums/4", SumModel())
    newer, _ = _score(session, models, source, out)
    assert not newer.skipped and newer.output != first.output
    assert set(_scores(newer)["model_version"].to_pylist()) == {"4"}


def test_the_version_is_pinned_at_the_start(
    session: Session, models: dict[str, ResolvedModel], tmp_path: Path
) -> None:
    source = _input(tmp_path / "in.parquet")

    def promote_mid_run(done: int, total: int | None) -> None:
        models["sums@production"] = ResolvedModel("sums", "9", "mem://sums/9", SumModel())

    result, sink = _score(session, models, source, tmp_path / "out", on_progress=promote_mid_run)

    assert result.model_version == "3"
    assert set(_scores(result)["model_version"].to_pylist()) == {"3"}
    assert {r.model_version for r in sink.read("sums")} == {"3"}


def test_a_bare_model_reference_scores_every_other_column(
    session: Session, models: dict[str, ResolvedModel], tmp_path: Path
) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ["x", "y"], "a": [1.0, -1.0], "b": [0.0, 0.0]}), source)

    result, sink = _score(
        session, models, source, tmp_path / "out", target="sums@production", key="id"
    )

    assert _scores(result)["row_key"].to_pylist() == ["x", "y"]
    assert sink.read()[0].inputs == {"a": 1.0, "b": 0.0}


def test_bad_input_names_the_field(
    session: Session, models: dict[str, ResolvedModel], tmp_path: Path
) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"customer_id": [1], "a": [1.0]}), source)
    with pytest.raises(InputError, match="lacks the request field") as err:
        _score(session, models, source, tmp_path / "out")
    assert err.value.details["field"] == "b"
    with pytest.raises(InputError, match="not a snapshot reference"):
        _score(session, models, tmp_path / "nope.parquet", tmp_path / "out")


class BrokenAfterWarmUp(SumModel):
    def __init__(self) -> None:
        self.calls = 0

    def predict_proba(self, x: Any) -> Any:
        self.calls += 1
        if self.calls > 6:  # the loader's warm-up calls pass
            raise ValueError("boom")
        return super().predict_proba(x)


def test_a_failing_model_stops_the_run_with_a_clear_error_and_no_result(
    session: Session, models: dict[str, ResolvedModel], tmp_path: Path
) -> None:
    from modelward.errors import ModelUnavailable

    models["sums@production"] = ResolvedModel("sums", "3", "mem://sums/3", BrokenAfterWarmUp())
    with pytest.raises(ModelUnavailable, match=r"sums@3 failed on rows 0-39: ValueError: boom"):
        _score(session, models, _input(tmp_path / "in.parquet"), tmp_path / "out")
    # nothing finished is visible: no folder at all when the model failed on a part scored
    # while the input was still being hashed, else the run's .partial one
    assert [p for p in (tmp_path / "out").glob("*") if not p.name.endswith(".partial")] == []


@pytest.fixture
def store_session(workspace: Workspace) -> Iterator[Session]:
    """On SQLite and on a fresh Postgres schema (the metadata the run reads)."""
    with Session(workspace) as s:
        yield s


def test_a_snapshot_is_scored_and_its_content_hash_addresses_the_output(
    store_session: Session, models: dict[str, ResolvedModel], tmp_path: Path
) -> None:
    from modelward.data import snapshot

    session = store_session
    snap = snapshot(_input(tmp_path / "in.parquet"), name="to_score", session=session)

    result, sink = _score(session, models, snap.ref, tmp_path / "out")

    assert (result.input, result.input_hash) == (snap.ref, snap.content_hash)
    assert result.rows_scored == ROWS and sink.count("sums") == ROWS
    assert _score(session, models, snap.ref, tmp_path / "out")[0].skipped


def test_a_duckdb_query_is_scored_in_parts_and_addresses_its_output(
    session: Session, models: dict[str, ResolvedModel], tmp_path: Path
) -> None:
    source = _input(tmp_path / "in.parquet")
    query = f"sql:SELECT * FROM read_parquet('{source}') ORDER BY customer_id"
    from_file, _ = _score(session, models, source, tmp_path / "file")

    result, sink = _score(session, models, query, tmp_path / "out", key="customer_id")

    assert (result.rows_in, result.rows_scored, result.parts) == (ROWS, ROWS, ROWS // PART)
    assert _scores(result)["prediction"] == _scores(from_file)["prediction"]
    assert result.input.startswith("sql:SELECT") and sink.count("sums") == ROWS
    assert _score(session, models, query, tmp_path / "out", key="customer_id")[0].skipped
    # another query (or the same one over changed data) is another input
    fewer, _ = _score(
        session, models, f"{query.replace('ORDER', 'WHERE a > 0 ORDER')}", tmp_path / "out"
    )
    assert not fewer.skipped and fewer.output != result.output
    assert fewer.rows_in == int((pq.read_table(source)["a"].to_numpy() > 0).sum())


def test_a_bad_query_is_a_clear_error_naming_the_option(
    session: Session, models: dict[str, ResolvedModel], tmp_path: Path
) -> None:
    with pytest.raises(InputError, match=r"input query: .*no_such_table") as err:
        _score(session, models, "sql:SELECT * FROM no_such_table", tmp_path / "out")
    assert err.value.details["field"] == "sql"
    with pytest.raises(InputError, match="is empty"):
        _score(session, models, "sql:  ;", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_engine_options_are_checked_before_anything_is_scored(
    session: Session, models: dict[str, ResolvedModel], tmp_path: Path
) -> None:
    source = _input(tmp_path / "in.parquet")
    with pytest.raises(InputError, match="engine 'spark': expected one of local, ray"):
        _score(session, models, source, tmp_path / "out", engine="spark")
    with pytest.raises(InputError, match="address is the Ray cluster's"):
        _score(session, models, source, tmp_path / "out", address="127.0.0.1:10001")
    # several processes open the workspace's log themselves: an in-process sink cannot follow
    with pytest.raises(InputError, match="leave prediction_log out") as err:
        _score(session, models, source, tmp_path / "out", workers=2)
    assert err.value.details["field"] == "workers"
    assert not (tmp_path / "out").exists()


def test_every_core_means_no_more_workers_than_parts() -> None:
    import os

    from modelward.serving.batch_engines import choose_engine

    cores = len(os.sched_getaffinity(0))
    assert choose_engine("local", 0, None, parts=1).workers == 1  # small: in this process
    assert not choose_engine("local", 0, None, parts=1).processes
    assert choose_engine("local", 0, None, parts=10_000).workers == cores
    assert choose_engine("local", 0, None, parts=None).workers == cores  # a CSV: unknown
    assert choose_engine("local", 3, None, parts=1).workers == 3  # asked for: as asked
