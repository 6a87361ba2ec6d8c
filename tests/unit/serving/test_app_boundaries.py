"""Serving is the hot path: importing the gateway pulls in no pipeline, web or training code."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
import modelward.serving
import modelward.serving.app, modelward.serving.gateway, modelward.cli.gateway
print(json.dumps(sorted(sys.modules)))
"""


def test_the_gateway_imports_no_pipelines_web_training_or_model_library() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out))
    forbidden = {
        "modelward.pipelines",
        "modelward.web",
        "modelward.registry.runs",
        "sklearn",
        "mlflow",
        "fastapi",
    }
    assert not {m for m in loaded if m.split(".")[0] in forbidden or m in forbidden}
    assert not any(m.startswith(("modelward.pipelines", "modelward.web")) for m in loaded)
