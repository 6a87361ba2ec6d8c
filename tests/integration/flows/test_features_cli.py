"""``modelward features ...`` as a user runs it: tables, --json, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelward.cli.features import app
from modelward.errors import InputError, NotFound
from modelward.features.online.base import Record
from modelward.features.online.sqlite import SqliteOnlineStore
from modelward.features.packing import pack
from tests.integration.flows.test_features_training import DEFINITIONS
from tests.unit.features.support import hours, write_stats


@pytest.fixture
def ws(cli_workspace: Path) -> Path:
    root = cli_workspace
    write_stats(root / "stats.parquet")
    (root / "features.py").write_text(DEFINITIONS)
    return root


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def test_plan_apply_materialize_show_stats_skew(ws: Path) -> None:
    code, out = cli("plan", "--json")
    assert code == 0
    assert {c["action"] for c in json.loads(out)["changes"]} == {"create"}
    assert cli("apply")[0] == 0
    assert {c["action"] for c in json.loads(cli("plan", "--json")[1])["changes"]} == {"unchanged"}

    code, out = cli("materialize", "--end", hours(10).isoformat(), "--json")
    assert code == 0
    assert [(r["view"], r["rows"], r["status"]) for r in json.loads(out)] == [
        ("driver_stats", 2, "succeeded")
    ]

    code, out = cli("show", "driver_stats")
    assert code == 0
    assert "owner: team-a" in out and "parquet:stats.parquet" in out

    code, out = cli("stats", "driver_stats", "--json")
    assert code == 0
    assert json.loads(out)[0]["features"]["trips"]["max"] == 21.0

    code, out = cli("skew-check", "driver_stats", "--sample", "10", "--json")
    assert (code, json.loads(out)["passed"]) == (0, True)


def test_skew_above_threshold_exits_1(ws: Path) -> None:
    cli("apply")
    cli("materialize", "--end", hours(10).isoformat())
    store = SqliteOnlineStore(ws / ".modelward" / "online.db")
    from modelward.features import load_catalog
    from modelward.session import open_session

    with open_session(ws) as session:
        view = load_catalog(session).view("driver_stats")
    store.write(
        view.online_namespace,  # type: ignore[union-attr]
        [
            Record(
                "1",
                int(hours(2).timestamp() * 1e6),
                10**18,
                pack([99, 4.0, "x"], ["int64", "float64", "string"]),
            )
        ],
    )
    store.close()
    code, out = cli("skew-check", "driver_stats", "--sample", "10")
    assert code == 1
    assert "50.00%" in out and "failed" in out


def test_bad_input_is_an_input_error(ws: Path) -> None:
    with pytest.raises(InputError, match="no time zone"):
        cli("materialize", "--end", "2024-01-01T00:00:00")
    with pytest.raises(NotFound, match="'nope' is not registered"):
        cli("show", "nope")


def test_list_and_get_read_online_values_with_their_status(ws: Path) -> None:
    cli("apply")
    cli("materialize", "--end", hours(10).isoformat())
    code, out = cli("list", "--json")
    assert code == 0
    listed = {v["view"]: v for v in json.loads(out)}
    assert listed["driver_stats"]["join_keys"] == ["driver_id"]
    assert listed["trips_per_km"]["kind"] == "on_demand"

    code, out = cli("get", "driver_stats", "--key", "driver_id=1", "-k", "driver_id=9", "--json")
    assert code == 0
    body = json.loads(out)
    assert body["metadata"]["feature_names"] == ["driver_id", "trips", "rating", "city"]
    trips = body["results"][1]
    assert trips["values"] == [21, None] and trips["statuses"] == ["PRESENT", "NOT_FOUND"]

    code, out = cli("get", "driver_stats:trips", "-k", "driver_id=9")
    assert code == 0 and "[NOT_FOUND]" in out
    code, out = cli("get", "trips_per_km", "-k", "driver_id=1", "-k", "km=2.5", "--json")
    assert code == 0 and json.loads(out)["results"][-1]["values"] == [21 / 2.5]
    with pytest.raises(InputError, match="NAME=VALUE"):
        cli("get", "driver_stats", "--key", "driver_id")


def test_the_feature_server_of_a_workspace_checks_its_tokens(ws: Path) -> None:
    from starlette.testclient import TestClient

    from modelward.security import bootstrap_admin
    from modelward.serving import feature_server_for
    from modelward.session import open_session

    cli("apply")
    cli("materialize", "--end", hours(10).isoformat())
    session = open_session(ws)
    _, token = bootstrap_admin(session)
    ask = {"features": ["driver_stats:trips"], "entities": {"driver_id": [2]}}
    with TestClient(feature_server_for(session)) as http:  # closes the session at shutdown
        good = http.post(
            "/get-online-features", json=ask, headers={"Authorization": f"Bearer {token}"}
        )
        bad = http.post(
            "/get-online-features", json=ask, headers={"Authorization": "Bearer mwt_x_y"}
        )
    assert good.status_code == 200 and good.json()["results"][1]["values"] == [0]
    assert bad.status_code == 401
