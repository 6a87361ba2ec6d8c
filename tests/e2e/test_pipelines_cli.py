"""``modelward pipelines`` as a user runs it: list, show, run, rerun, runs, compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelward.cli import main

PIPELINES_PY = """
from modelward.pipelines import Param, pipeline, step

@step
def numbers(n: int) -> list[int]:
    return list(range(n))

@step
def total(numbers: list[int]) -> int:
    return sum(numbers)

@step
def check(total: int, limit: int) -> int:
    if total > limit:
        raise RuntimeError(f"total {total} is above the limit {limit}")
    return total

demo = pipeline("demo", [numbers, total, check],
                params={"n": Param(int, default=5, help="how many"), "limit": 100},
                description="Adds numbers up.")
"""


pytestmark = pytest.mark.slow  # whole flows through the real CLI


def _register_commands() -> None:
    import importlib

    importlib.import_module("modelward.cli.app")._register()  # what main does first


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    _register_commands()
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture
def ws(cli_workspace: Path) -> Path:
    root = cli_workspace
    (root / "pipelines.py").write_text(PIPELINES_PY)
    return root


def test_list_show_run_rerun_runs_and_run_show(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "pipelines", "list", "--json")
    assert code == 0 and [p["name"] for p in json.loads(out)] == ["demo"]
    code, out, _ = run(capsys, "pipelines", "show", "demo")
    assert code == 0 and "numbers" in out and "how many" in out

    code, out, err = run(capsys, "pipelines", "run", "demo", "-p", "n=4")
    assert code == 0, err
    assert "succeeded" in out and "0 cache hit(s)" in out
    assert "numbers: succeeded" in err  # step progress on stderr
    code, out, _ = run(capsys, "pipelines", "run", "demo", "-p", "n=4", "--json")
    rerun = json.loads(out)
    assert code == 0 and rerun["cache_hits"] == 3
    assert [s["status"] for s in rerun["steps"]] == ["cached"] * 3

    code, out, _ = run(capsys, "pipelines", "runs", "demo", "--json")
    runs = json.loads(out)
    assert code == 0 and len(runs) == 2 and runs[0]["id"] == rerun["id"]
    first = runs[1]
    assert all(s["cpu_seconds"] > 0 and s["peak_memory_bytes"] > 0 for s in first["steps"])
    code, out, _ = run(capsys, "pipelines", "run-show", first["id"][:10])
    assert code == 0 and first["id"] in out and "n=4" in out


def test_failing_step_exits_1_with_error_and_traceback_stored(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "pipelines", "run", "demo", "-p", "n=20", "-p", "limit=5")
    assert code == 1
    assert "step 'check' failed: RuntimeError: total 190 is above the limit 5" in err
    code, out, _ = run(capsys, "pipelines", "runs", "--json")
    run_id = json.loads(out)[0]["id"]
    code, out, err = run(capsys, "pipelines", "run-show", run_id, "--json")
    shown = json.loads(out)
    assert shown["status"] == "failed"
    assert "raise RuntimeError" in shown["steps"][2]["traceback"]


def test_bad_parameters_and_cron_exit_2_naming_them(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "pipelines", "run", "demo", "-p", "n=lots")
    assert code == 2 and "parameter 'n': expected int, got 'lots'" in err
    code, _, err = run(capsys, "pipelines", "run", "demo", "-p", "m=1")
    assert code == 2 and "unknown parameter(s) 'm'" in err
    code, _, err = run(capsys, "pipelines", "schedule", "demo", "0 3 * *")
    assert code == 2 and "a cron expression has 5 fields" in err
    code, _, err = run(capsys, "pipelines", "run", "nope")
    assert code == 2 and "no pipeline named 'nope'" in err


def test_ray_unreachable_from_the_cli_fails_fast(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.flows.test_pipelines_ray import _ray

    _ray()
    (ws / "modelward.toml").write_text(
        (ws / "modelward.toml").read_text()
        + '\n[pipelines]\nexecutor = { type = "ray", address = "127.0.0.1:9", '
        "connect_timeout_s = 2 }\n"
    )
    code, _, err = run(capsys, "pipelines", "run", "demo")
    assert code == 2 and "Ray cluster at '127.0.0.1:9' is not reachable" in err


def test_compare_names_what_differs_between_two_runs(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = []
    for n in ("4", "4", "6"):
        code, out, err = run(capsys, "pipelines", "run", "demo", "-p", f"n={n}", "--json")
        assert code == 0, err
        ids.append(json.loads(out)["id"])
    code, out, _ = run(capsys, "pipelines", "compare", ids[0][:10], ids[1][:10], "--json")
    same = json.loads(out)
    assert code == 0 and same["same"] is True and same["changes"] == []
    assert {s["step"]: s["same_outputs"] for s in same["steps"]} == {
        "numbers": True,
        "total": True,
        "check": True,
    }
    code, out, _ = run(capsys, "pipelines", "compare", ids[0][:10], ids[2][:10], "--json")
    diff = json.loads(out)
    assert code == 0 and diff["same"] is False
    assert {"what": "params.n", "old": 4, "new": 6} in diff["changes"]
    assert "step.total.outputs" in {c["what"] for c in diff["changes"]}
    code, out, _ = run(capsys, "pipelines", "compare", ids[0][:10], ids[2][:10])
    assert code == 0 and "params.n" in out and "changed" in out
    code, _, err = run(capsys, "pipelines", "compare", ids[0][:10], "nosuchrun")
    assert code == 2 and "nosuchrun" in err
