"""The ``modelward data`` commands as a user runs them: output, --json, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from modelward.cli import main
from modelward.examples.churn import CONTRACT_YAML, write_customers

AS_OF = "2026-01-31T12:00:00+00:00"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture
def ws(cli_workspace: Path) -> Path:
    root = cli_workspace
    (root / "customers.yaml").write_text(CONTRACT_YAML)
    write_customers(root / "good.parquet", rows=2_000)
    write_customers(root / "bad.parquet", rows=2_000, broken=True)
    return root


def test_snapshot_list_show_json(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "data", "snapshot", str(ws / "good.parquet"), "--name", "customers", "--json"
    )
    assert code == 0
    snap = json.loads(out)
    assert (snap["ref"], snap["row_count"], snap["created_by"]) == (
        "customers@1",
        2_000,
        "cli-user",
    )
    code, out, _ = run(capsys, "data", "list", "--json")
    assert code == 0 and [s["ref"] for s in json.loads(out)] == ["customers@1"]
    code, out, _ = run(capsys, "data", "show", "customers", "--json")
    assert code == 0 and json.loads(out)["content_hash"] == snap["content_hash"]
    code, out, _ = run(capsys, "data", "show", "customers")
    assert code == 0 and "customers@1" in out and "schema" in out


def test_validate_exit_codes_and_report(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    contract = str(ws / "customers.yaml")
    code, out, _ = run(
        capsys, "data", "validate", str(ws / "good.parquet"), "-c", contract, "--as-of", AS_OF
    )
    assert code == 0 and "all rules passed" in out
    code, out, _ = run(
        capsys,
        "data",
        "validate",
        str(ws / "bad.parquet"),
        "-c",
        contract,
        "--as-of",
        AS_OF,
        "--json",
    )
    assert code == 1
    failed = {r["rule"] for r in json.loads(out)["results"] if not r["passed"]}
    assert failed == {"columns.plan.nullable", "columns.tenure_months.min", "table.freshness"}


def test_refused_snapshot_exits_1_and_override_exits_0(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "data",
        "snapshot",
        str(ws / "bad.parquet"),
        "-n",
        "customers",
        "-c",
        str(ws / "customers.yaml"),
    ]
    code, _, err = run(capsys, *args)
    assert code == 1
    assert "refused" in err and "columns.plan.nullable" in err and "Traceback" not in err
    code, out, _ = run(
        capsys, *args, "--override-contract", "known bad export, ticket 42", "--json"
    )
    assert code == 0 and json.loads(out)["override_reason"] == "known bad export, ticket 42"


def test_input_errors_exit_2_without_traceback(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "data", "snapshot", str(ws / "missing.parquet"), "-n", "x")
    assert code == 2 and "missing.parquet: file not found" in err and "Traceback" not in err
    (ws / "broken.yaml").write_text("columns:\n  a: [unclosed\n")
    code, _, err = run(
        capsys, "data", "validate", str(ws / "good.parquet"), "-c", str(ws / "broken.yaml")
    )
    assert code == 2 and "broken.yaml" in err
    code, _, err = run(
        capsys,
        "data",
        "validate",
        str(ws / "good.parquet"),
        "-c",
        str(ws / "customers.yaml"),
        "--as-of",
        "2026-01-31T12:00:00",
    )
    assert code == 2 and "time zone" in err
    code, _, err = run(capsys, "data", "show", "ghost")
    assert code == 2 and "not found" in err
    code, _, _ = run(capsys, "data", "no-such-command")
    assert code == 2


def test_json_errors_are_json(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "data", "show", "ghost", "--json")
    assert code == 2 and json.loads(out)["error"] == "NotFound"


def test_infer_contract_round_trips(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = ws / "inferred.yaml"
    code, _, _ = run(capsys, "data", "infer-contract", str(ws / "good.parquet"), "-o", str(target))
    assert code == 0 and target.exists()
    code, _, err = run(
        capsys, "data", "infer-contract", str(ws / "good.parquet"), "-o", str(target)
    )
    assert code == 2 and "--force" in err
    code, out, _ = run(capsys, "data", "validate", str(ws / "good.parquet"), "-c", str(target))
    assert code == 0, out


def test_diff(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "data", "snapshot", str(ws / "good.parquet"), "-n", "c")
    run(
        capsys,
        "data",
        "snapshot",
        f"SELECT customer_id, plan FROM '{ws / 'good.parquet'}'",
        "-n",
        "c",
    )
    code, out, _ = run(capsys, "data", "diff", "c@1", "c@2", "--json")
    assert code == 0
    assert {c["name"] for c in json.loads(out)["removed"]} >= {"email", "region"}


def test_debug_shows_traceback(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--debug", "data", "show", "ghost")
    assert code == 2 and "Traceback" in err


# the quickstart through the installed console script, and the README's commands after
# it, run once for the whole suite in tests/e2e/test_docs.py (a full quickstart is minutes)


def test_a_refused_snapshot_shows_observed_threshold_flag_and_the_real_source(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["data", "snapshot", str(ws / "bad.parquet"), "-n", "customers"]
    code, out, err = run(capsys, *args, "-c", str(ws / "customers.yaml"))
    assert code == 1
    shown = out + err
    assert "--override-contract REASON" in shown
    assert "columns.tenure_months.min" in shown and "threshold" in shown
    assert "(observed " in err and ", threshold 0)" in err  # the message carries them too
    assert str(ws / "bad.parquet") in shown
    assert ".modelward/tmp" not in shown and "snap-" not in shown  # never the deleted copy
    # freshness in the one duration format (days, hours, minutes; never "7320h1s")
    assert re.search(r"table\.freshness \(observed \d+d", err), err


def test_as_of_judges_freshness_at_the_exports_time(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The quickstart's good file is 2026-01-31's export: fresh then, stale today."""
    args = ["data", "snapshot", str(ws / "good.parquet"), "-n", "customers"]
    contract = ["-c", str(ws / "customers.yaml")]
    code, _, err = run(capsys, *args, *contract)
    assert code == 1 and "table.freshness" in err
    code, out, _ = run(capsys, *args, *contract, "--as-of", "2026-01-31T12:00:00+00:00")
    assert code == 0 and "customers@1 created" in out
    code, _, err = run(capsys, *args, *contract, "--as-of", "2026-01-31")
    assert code == 2 and "time zone" in err


def test_regex_text_in_a_table_is_shown_literally(
    ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rich once read `[a-z0-9._]` in a rule's threshold as markup and swallowed it."""
    from modelward.cli import output

    # wide enough that no cell is folded; the console read COLUMNS when it was created, which
    # under pytest-xdist was before this test
    monkeypatch.setattr(output.console, "_width", 200)
    contract = ws / "emails.yaml"
    contract.write_text(
        "name: emails\ncolumns:\n  email:\n    type: string\n    regex: '[a-z0-9._]+@[a-z]+'\n"
    )
    _, out, _ = run(capsys, "data", "validate", str(ws / "good.parquet"), "-c", str(contract))
    assert "[a-z0-9._]+@[a-z]+" in out, out
