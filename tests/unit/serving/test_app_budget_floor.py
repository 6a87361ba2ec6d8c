"""``create_gateway(latency_budget_floor_ms=...)``: the quickstart's in-process asks show
the model's answer on a busy machine instead of the fallback, while ``modelward serve``
keeps each endpoint's own budget."""

from __future__ import annotations

from modelward.config import Workspace
from modelward.security import Principal, Role
from modelward.serving import create_gateway, get_endpoint, update_endpoint
from modelward.serving.endpoints import Endpoint
from modelward.session import Session
from tests.e2e.test_batch_cli import scored_workspace
from tests.unit.registry.support import MLFLOW_WARNINGS

pytestmark = MLFLOW_WARNINGS
__all__ = ["scored_workspace"]  # the fixture: a registered model behind endpoint "tiny"


def _budgets(workspace: Workspace, floor_ms: float | None) -> dict[str, float]:
    gateway = create_gateway(Session(workspace), latency_budget_floor_ms=floor_ms)
    loaded = gateway.cache.sources.load_endpoints()
    return {e.name: e.spec.latency_budget_ms for e in loaded if isinstance(e, Endpoint)}


def test_the_floor_raises_a_smaller_budget_only_in_that_gateway(
    scored_workspace: Workspace,
) -> None:
    assert _budgets(scored_workspace, None) == {"tiny": 100.0}  # the endpoint's own
    assert _budgets(scored_workspace, 30_000) == {"tiny": 30_000.0}
    with Session(scored_workspace) as session:  # what is stored is never changed
        assert get_endpoint(session, "tiny").spec.latency_budget_ms == 100.0


def test_a_budget_above_the_floor_is_kept(scored_workspace: Workspace) -> None:
    with Session(scored_workspace) as session:
        spec = get_endpoint(session, "tiny").spec.model_copy(update={"latency_budget_ms": 50_000})
        update_endpoint(session, Principal(session.actor, Role.ADMIN), spec)
    assert _budgets(scored_workspace, 30_000) == {"tiny": 50_000.0}


def test_a_gateway_with_a_floor_answers_with_the_model(scored_workspace: Workspace) -> None:
    import asyncio

    import httpx

    from modelward.security.tokens import load_local_token

    async def ask() -> dict[str, object]:
        gateway = create_gateway(
            Session(scored_workspace), access_log=False, latency_budget_floor_ms=30_000
        )
        await gateway.startup()
        try:
            transport = httpx.ASGITransport(app=gateway)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
                answer = await http.post(
                    "/v1/endpoints/tiny/predict",
                    json={"inputs": {"id": 1, "a": 2.0, "b": 0.0}},
                    headers={"Authorization": f"Bearer {load_local_token(scored_workspace)}"},
                )
        finally:
            await gateway.shutdown()
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    body = asyncio.run(ask())
    assert body["model_version"] == "1" and body["degraded"] is False
