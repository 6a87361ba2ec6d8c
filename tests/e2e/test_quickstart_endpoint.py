"""The quickstart's churn endpoint (issue 16.2): made from the shipped definition file on
churn@production, answered, and a printed curl line that works as printed.

The model is the quickstart's kind — a scikit-learn Pipeline whose ColumnTransformer picks
columns by name, logged with the input signature the pipeline's register step writes — but
trained here on a few rows, so the test costs seconds, not a pipeline run (the full
quickstart runs in tests/e2e/test_docs.py).
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from modelward.cli.quickstart import EXAMPLE_CUSTOMER, serve_quickstart_endpoint
from modelward.config import Workspace, init_workspace
from modelward.examples import ENDPOINT_FILE, example_dir
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS

pytestmark = MLFLOW_WARNINGS


def champion(session: Session) -> Any:
    """churn@1 in Production: the example's encoder and a logistic regression."""
    import mlflow
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from modelward.pipelines.registration import input_signature
    from modelward.registry import approve, transition, using_workspace
    from modelward.registry.serialization import trusted_types_for
    from modelward.registry.versions import register
    from modelward.security import Principal, Role

    rng = np.random.default_rng(0)
    n = 200
    x = pd.DataFrame(
        {
            "plan": rng.choice(["basic", "pro", "enterprise"], n),
            "region": rng.choice(["na", "eu", "apac", "latam"], n),
            "tenure_months": rng.integers(1, 60, n),
            "support_tickets": rng.integers(0, 6, n),
            "logins": rng.integers(0, 40, n),
            "monthly_spend": rng.uniform(10, 400, n),
        }
    )
    y = ((x["support_tickets"] > 2) & (x["logins"] < 10)).astype(int)
    encoder = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]), remainder=StandardScaler()
    )
    model = make_pipeline(encoder, LogisticRegression(max_iter=500)).fit(x, y)
    signature = input_signature(x.head(20).to_dict("records"), list(x.columns))
    with using_workspace(session.workspace), mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            skops_trusted_types=trusted_types_for(model),
            pip_requirements=[],  # inferring them runs a subprocess: seconds
        )
    version = register(session, "churn", model_uri=info.model_uri)
    approve(session, Principal("reviewer", Role.APPROVER), version.ref, "Production")
    transition(
        session,
        Principal(session.actor, Role.ADMIN),
        version.ref,
        "Production",
        reason="the test's champion",
        override_reason="a test model: no lineage",
    )
    return model


def test_the_quickstart_serves_its_churn_endpoint_and_prints_a_working_curl_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    root = init_workspace(tmp_path / "qs", project="churn-quickstart")
    shutil.copyfile(example_dir() / ENDPOINT_FILE, root / ENDPOINT_FILE)
    environ = {"MODELWARD_IDENTITY__USER": "tester"}
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    with Session(Workspace.open(root, environ=environ)) as session:
        model = champion(session)
    capsys.readouterr()

    answer = serve_quickstart_endpoint(root, Path("qs"))
    printed = capsys.readouterr().out
    expected = model.predict_proba(pd.DataFrame([EXAMPLE_CUSTOMER]))[0, 1]
    assert answer["degraded"] is False, answer
    assert (answer["model"], answer["model_version"]) == ("churn", "1")
    assert answer["prediction"] == pytest.approx(expected)
    assert "endpoint churn created from churn-endpoint.yaml" in " ".join(printed.split())

    # the printed curl line, as a shell would run it: the token read from the file it names
    [curl] = [ln.strip() for ln in printed.splitlines() if ln.strip().startswith("curl ")]
    words = shlex.split(curl)
    header, body, url = words[words.index("-H") + 1], words[words.index("-d") + 1], words[-1]
    token_file = header.removeprefix("Authorization: Bearer $(cat ").removesuffix(")")
    token = (tmp_path / token_file).read_text().strip()
    assert token not in printed  # the secret itself is never printed

    async def ask() -> httpx.Response:
        from modelward.serving import create_gateway

        gateway = create_gateway(Session(Workspace.open(root, environ=environ)))
        await gateway.startup()
        try:
            transport = httpx.ASGITransport(app=gateway)
            async with httpx.AsyncClient(transport=transport, base_url="http://x") as http:
                return await http.post(
                    httpx.URL(url).path,
                    content=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
        finally:
            await gateway.shutdown()

    curled = asyncio.run(ask())
    assert curled.status_code == 200, curled.text
    assert curled.json()["prediction"] == pytest.approx(expected)
    assert url == "http://127.0.0.1:8700/v1/endpoints/churn/predict"

    serve_quickstart_endpoint(root, Path("qs"))  # a second quickstart changes nothing
    assert "endpoint churn unchanged" in " ".join(capsys.readouterr().out.split())
