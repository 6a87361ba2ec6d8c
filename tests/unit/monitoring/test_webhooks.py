"""Alert delivery to a webhook: signed with the workspace's secret, retried after 5xx and
timeouts with backoff, a refusal not retried."""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import SecretStr

from modelward.config import Workspace
from modelward.monitoring import (
    AlertChange,
    WebhookSender,
    sign_webhook,
)

CHANGE = AlertChange("churn", "model_drift:1", "firing", "model drift: spend", ["spend"], "r1")


SECRET = SecretStr("s" * 32)


def test_the_webhook_is_signed_and_retried_after_500s() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500 if len(seen) < 3 else 200)

    sender = WebhookSender(
        "https://hooks.example/alerts", SECRET, backoff_s=0.0, transport=httpx.MockTransport(answer)
    )
    sender.send([CHANGE])
    assert sender.wait(10.0)
    sender.close()
    assert (sender.delivered, sender.failed, sender.retries) == (1, 0, 2)
    last = seen[-1]
    stamp = last.headers["X-Modelward-Timestamp"]
    assert last.headers["X-Modelward-Signature"] == sign_webhook(SECRET, stamp, last.content)
    assert json.loads(last.content)["key"] == "model_drift:1"


def test_a_webhook_that_times_out_gives_up_and_a_refusal_is_not_retried() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    slow = WebhookSender(
        "https://hooks.example/a",
        SECRET,
        attempts=3,
        backoff_s=0.0,
        transport=httpx.MockTransport(timeout),
    )
    slow.send([CHANGE])  # returns at once: delivery is on its own thread
    assert slow.wait(10.0)
    slow.close()
    assert (slow.delivered, slow.failed, slow.retries) == (0, 1, 3)

    refused = WebhookSender(
        "https://hooks.example/b",
        SECRET,
        backoff_s=0.0,
        transport=httpx.MockTransport(lambda r: httpx.Response(400)),
    )
    refused.send([CHANGE])
    assert refused.wait(10.0)
    refused.close()
    assert (refused.failed, refused.retries) == (1, 0)


def test_the_workspace_names_the_webhook_and_its_secret(workspace_dir: Any) -> None:
    from modelward.monitoring import sender_from_settings

    (workspace_dir / "modelward.toml").write_text(
        '[monitoring]\nwebhook_url = "https://hooks.example/a?token=t"\npersistence = 3\n'
    )
    env = {"MODELWARD_IDENTITY__USER": "t", "MODELWARD_WEBHOOK_SECRET": "k" * 16}
    ws = Workspace.open(workspace_dir, environ=env)
    assert ws.settings.monitoring.persistence == 3
    sender = sender_from_settings(ws.settings.monitoring, ws.secrets.webhook_secret)
    assert sender is not None
    assert "token" not in repr(sender)  # a URL's query may hold a token: never shown
    sender.close()
    bare = Workspace.open(workspace_dir, environ={"MODELWARD_IDENTITY__USER": "t"})
    assert bare.secrets.webhook_secret is None
