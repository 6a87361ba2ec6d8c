"""`modelward batch score` as a user runs it: a registered MLflow model behind an endpoint,
the workspace's SQLite prediction log, rejects, and a rerun that is skipped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.config import Workspace
from modelward.monitoring import open_workspace_log
from modelward.security.roles import Principal, Role
from modelward.security.tokens import bootstrap_admin
from modelward.serving import create_endpoint, parse_spec
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, cli

pytestmark = MLFLOW_WARNINGS


@pytest.fixture
def scored_workspace(sqlite_workspace: Workspace) -> Workspace:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    from modelward.registry import register, using_workspace
    from modelward.registry.serialization import trusted_types_for

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    with Session(sqlite_workspace) as session:
        bootstrap_admin(session)
        with using_workspace(session.workspace), mlflow.start_run():
            info = mlflow.sklearn.log_model(
                model, name="model", skops_trusted_types=trusted_types_for(model)
            )
        register("tiny", model_uri=info.model_uri, session=session)
        spec = {
            "name": "tiny",
            "model": "tiny@1",
            "request": {"id": "int", "a": "float", "b": "float"},
            "entity_keys": ["id"],
        }
        create_endpoint(session, Principal(session.actor, Role.ADMIN), parse_spec(spec))
    return sqlite_workspace


def test_batch_score_writes_parts_rejects_the_log_and_skips_a_rerun(
    scored_workspace: Workspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "in.parquet"
    a = [0.5, -0.5, float("nan"), 1.0, None, 2.0]
    pq.write_table(pa.table({"id": list(range(6)), "a": a, "b": [0.0] * 6}), source)
    args = ("batch", "score", "tiny", "--input", str(source), "--output", str(tmp_path / "out"))

    code, out, err = cli(capsys, monkeypatch, scored_workspace, *args, "--json")

    assert code == 0, err
    result = json.loads(out)
    assert (result["rows_scored"], result["rows_rejected"]) == (4, 2)
    assert result["model_version"] == "1" and not result["skipped"]
    scores = pq.read_table(Path(result["output"]) / "part-00000.parquet")
    assert scores["row_key"].to_pylist() == [0, 1, 3, 5]
    assert scores["prediction"][0].as_py() > 0.5 > scores["prediction"][1].as_py()
    with Session(scored_workspace) as session:
        log = open_workspace_log(session)
        try:
            records = log.read("tiny")
        finally:
            log.close()
    assert len(records) == 4 and {r.mode for r in records} == {"batch"}

    code, out, err = cli(capsys, monkeypatch, scored_workspace, *args)
    assert code == 0 and "skipped" in out

    code, out, err = cli(
        capsys,
        monkeypatch,
        scored_workspace,
        "batch",
        "score",
        "tiny",
        "--input",
        "nope@1",
        "--output",
        str(tmp_path / "out"),
    )
    assert code != 0 and "nope" in err

    query = f"SELECT * FROM read_parquet('{source}') ORDER BY id"
    sql_args = ("batch", "score", "tiny", "--sql", query, "--output", str(tmp_path / "by-sql"))
    code, out, err = cli(capsys, monkeypatch, scored_workspace, *sql_args, "--json")
    assert code == 0, err
    by_sql = json.loads(out)
    assert (by_sql["rows_scored"], by_sql["rows_rejected"]) == (4, 2)
    assert by_sql["input"] == f"sql:{query}"

    code, out, err = cli(capsys, monkeypatch, scored_workspace, *args, "--sql", query)
    assert code != 0 and "either --input or --sql" in err
