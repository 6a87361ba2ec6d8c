"""``modelward endpoints`` as a user runs it: create from YAML, list, show, update, refusals."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from modelward.cli import main
from modelward.security.tokens import bootstrap_admin
from modelward.session import open_session
from tests.unit.registry.support import MLFLOW_WARNINGS, placeholder_version

pytestmark = MLFLOW_WARNINGS

SPEC = """
name: churn
model: churn@production
request: {customer_id: int, email: string, discount: float}
entity_keys: [customer_id]
features: [customer_stats]
pii_fields: [email]
latency_budget_ms: 40
fallback: {response: 0.0}
"""

pytestmark = pytest.mark.slow  # whole flows through the real CLI


def wire() -> None:
    """Mount the serving commands if cli/app.py does not (yet); a no-op once it does."""
    from modelward.cli import endpoints, gateway

    root = importlib.import_module("modelward.cli.app")
    register = root._register
    if getattr(register, "serving_wired", False):
        return

    def wired() -> None:
        register()
        names = {c.name for c in root.app.registered_commands}
        names |= {g.name for g in root.app.registered_groups}
        if "serve" not in names:
            gateway.register(root.app)
        if "endpoints" not in names:
            root.app.add_typer(endpoints.app, name="endpoints")

    wired.serving_wired = True  # type: ignore[attr-defined]
    root._register = wired


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    wire()
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture
def ws(cli_workspace: Path) -> Path:
    root = cli_workspace
    with open_session(root) as session:
        bootstrap_admin(session)
        placeholder_version(session, "churn")  # definitions must name a registered model
    (root / "churn.yaml").write_text(SPEC)
    return root


def test_create_list_show_update(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "endpoints", "create", str(ws / "churn.yaml"))
    assert code == 0 and "created endpoint churn" in out
    code, out, _ = run(capsys, "endpoints", "list", "--json")
    assert code == 0
    [listed] = json.loads(out)
    assert (listed["name"], listed["config_version"]) == ("churn", 1)
    assert listed["spec"]["pii_fields"] == ["email"]
    code, out, _ = run(capsys, "endpoints", "show", "churn")
    assert code == 0 and "churn@production" in out and "0.04s" in out
    (ws / "churn.yaml").write_text(SPEC.replace("40", "25"))
    code, out, _ = run(
        capsys, "endpoints", "update", str(ws / "churn.yaml"), "--expected-version", "1", "--json"
    )
    assert code == 0 and json.loads(out)["config_version"] == 2


def test_refusals_exit_2_naming_the_problem(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ws / "bad.yaml").write_text(SPEC.replace("float}", "decimal}"))
    code, _, err = run(capsys, "endpoints", "create", str(ws / "bad.yaml"))
    assert code == 2 and "request.discount" in err
    code, _, err = run(capsys, "endpoints", "show", "nope")
    assert code == 2 and "'nope' does not exist" in err
    code, out, _ = run(capsys, "endpoints", "show", "nope", "--json")
    assert code == 2 and json.loads(out)["error"] == "NotFound"


def test_a_model_reference_the_registry_does_not_know_is_refused_at_create(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for ref, why in (
        ("churn@99", "has no version 99"),
        ("nope@production", "'nope' is not registered"),
        ("churn@99999999999999999999999", "version"),
    ):
        (ws / "bad.yaml").write_text(SPEC.replace("churn@production", ref))
        code, _, err = run(capsys, "endpoints", "create", str(ws / "bad.yaml"))
        assert code == 2 and "model:" in err and why in err, (ref, err)
    fallback = SPEC.replace("{response: 0.0}", "{model: churn@7}")
    (ws / "bad.yaml").write_text(fallback)
    code, _, err = run(capsys, "endpoints", "create", str(ws / "bad.yaml"))
    assert code == 2 and "fallback.model" in err and "no version 7" in err
    code, out, _ = run(capsys, "endpoints", "list", "--json")
    assert json.loads(out) == []  # nothing was stored
    # a registered model whose stage is still empty is a valid target
    code, _, err = run(capsys, "endpoints", "create", str(ws / "churn.yaml"))
    assert code == 0, err


def test_delete_removes_the_endpoint_audited(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "endpoints", "create", str(ws / "churn.yaml"))[0] == 0
    code, _, err = run(capsys, "endpoints", "delete", "churn", "--expected-version", "2")
    assert code == 1 and "config version 1, not 2" in err  # a stale read is a refusal
    code, out, _ = run(capsys, "endpoints", "delete", "churn")
    assert code == 0 and "deleted endpoint churn" in out
    code, _, err = run(capsys, "endpoints", "show", "churn")
    assert code == 2 and "does not exist" in err
    code, out, _ = run(capsys, "audit", "log", "--target", "endpoint:churn", "--json")
    assert [e["action"] for e in json.loads(out)] == ["endpoint.created", "endpoint.deleted"]
    code, _, err = run(capsys, "endpoints", "delete", "churn")
    assert code == 2 and "does not exist" in err


@pytest.mark.parametrize("command", ["serve", "server"])
def test_a_port_out_of_range_is_refused_not_replaced(
    ws: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    for port in ("99999", "0", "-1"):
        code, out, err = run(capsys, command, "--port", port)
        assert code == 2 and "Invalid value for '--port'" in err, (port, err)
        assert "serving" not in out + err and "API on" not in out + err
