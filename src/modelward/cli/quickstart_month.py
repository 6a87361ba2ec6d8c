"""The quickstart's last chapter, "a month in production": the champion answers some of
the latest month's customers through the gateway, a quarter of their outcomes come in,
the monitor looks at the window, and the retraining loop judges what that run found.

Churn outcomes take a month to arrive, so after a few minutes most are missing: the loop's
answer is to wait, with the coverage it saw, and nothing is trained. The chapter costs a
few seconds (one batched request, one monitor run, one look), and run again it says the
same trigger was seen again, linked to its episode rather than judged twice.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelward.cli.output import console, print_table
from modelward.cli.workspace import environ_for

#: the quickstart's in-process asks show what the model answers, they do not time it: the
#: endpoint's 100 ms budget is raised to this for them, so a busy machine (a test suite, a
#: build beside it) does not turn the answers into the fallback and change the story
ASK_BUDGET_MS = 30_000.0

__all__ = ["MONTH_POLICY", "month_in_production"]

#: the retraining policy the chapter adds to the workspace's modelward.toml (once)
MONTH_POLICY = """
# added by the quickstart's "a month in production" chapter (docs/retraining.md)
[[retraining.policies]]
name = "churn-monthly"
endpoint = "churn"
model = "churn"
pipeline = "churn"
window_params = {end = "as_of"}
# a month's outcomes take about 30 days: judge performance on half of them at least
checks = {persistence = 1, min_label_coverage = 0.5, expected_label_delay_h = 720}
"""

#: customers asked, and how many of their outcomes are in by the time the monitor looks
ASKED, LABELLED = 40, 10
FIELDS = ("plan", "region", "tenure_months", "support_tickets", "logins", "monthly_spend")


def _add_policy(root: Path) -> None:
    toml = root / "modelward.toml"
    text = toml.read_text(encoding="utf-8")
    if 'name = "churn-monthly"' not in text:
        toml.write_text(text.rstrip("\n") + "\n" + MONTH_POLICY, encoding="utf-8")


def _latest_month(root: Path) -> list[tuple[dict[str, Any], int]]:
    """The first :data:`ASKED` customers of the example data's latest month, each with
    whether they churned."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    activity = pq.read_table(root / "data" / "activity.parquet")
    last = pc.max(activity["event_timestamp"])
    month = activity.filter(pc.equal(activity["event_timestamp"], last)).slice(0, ASKED)
    labels = pq.read_table(root / "data" / "labels.parquet", columns=["customer_id", "churned"])
    wanted = set(month["customer_id"].to_pylist())
    churned = {
        c: y
        for c, y in zip(
            labels["customer_id"].to_pylist(), labels["churned"].to_pylist(), strict=True
        )
        if c in wanted
    }
    return [({f: row[f] for f in FIELDS}, churned[row["customer_id"]]) for row in month.to_pylist()]


async def _ask(root: Path, environ: dict[str, str], token: str, rows: list[Any]) -> list[str]:
    """One batched request through the in-process gateway; each row's logged request id."""
    import httpx

    from modelward.serving import create_gateway
    from modelward.session import open_session

    gateway = create_gateway(
        open_session(root, environ=environ),
        only=frozenset({"churn"}),
        access_log=False,
        latency_budget_floor_ms=ASK_BUDGET_MS,
    )
    await gateway.startup()
    try:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            answer = await http.post(
                "/v1/endpoints/churn/predict",
                json={"inputs": rows},
                headers={"Authorization": f"Bearer {token}"},
            )
    finally:
        await gateway.shutdown()  # the prediction log is written before it returns
    if answer.status_code != 200:  # pragma: no cover - the example is built to answer
        raise RuntimeError(f"the churn endpoint answered {answer.status_code}: {answer.text}")
    body = answer.json()
    return [f"{body['request_id']}/{i}" for i in range(len(rows))]


def month_in_production(root: Path) -> None:
    """Print the chapter (after the endpoint is served: it asks that endpoint)."""
    from modelward.monitoring import ingest_labels, run_monitor
    from modelward.retraining import tick
    from modelward.security import LOCAL_TOKEN_FILE, Principal, Role
    from modelward.session import open_session

    console.rule("[bold]a month in production: a trigger judged by the retraining loop")
    _add_policy(root)
    environ = (environ_for(root) or {}) | {"MODELWARD_SERVING__GC_FREEZE": "false"}
    rows = _latest_month(root)
    with open_session(root, environ=environ) as session:
        token = (session.workspace.home / LOCAL_TOKEN_FILE).read_text(encoding="utf-8").strip()
        start = datetime.now(UTC)
        ids = asyncio.run(_ask(root, environ, token, [inputs for inputs, _ in rows]))
        admin = Principal(session.actor, Role.ADMIN)
        labels = [{"request_id": i, "label": y} for i, (_, y) in zip(ids, rows, strict=True)]
        ingest_labels(session, admin, "churn", labels[:LABELLED])
        console.print(
            f"7. churn answered {len(ids)} of the latest month's customers; "
            f"{LABELLED} of their outcomes are in (churn is known a month later)",
            soft_wrap=True,
        )
        end = datetime.now(UTC)
        result = run_monitor(session, "churn", window=end - start, end=end)
        perf = next((v.performance for v in result.versions if v.performance), None) or {}
        coverage = perf.get("coverage")
        console.print(
            f"8. monitor run {result.id[:12]}: {result.rows} predictions, label coverage "
            + ("-" if coverage is None else f"{coverage:.0%}"),
            soft_wrap=True,
        )
        looked = [e for e in tick(session) if e.policy == "churn-monthly"]
    if not looked:
        console.print("9. the retraining loop looked: no trigger fired, nothing to judge")
        return
    for episode in looked:
        trigger = (episode.evidence or {}).get("trigger", {})
        again = " (seen before: linked to its episode)" if episode.was_linked else ""
        console.print(
            f"9. trigger: {trigger.get('reason', episode.key)}{again}\n"
            f"   decision [bold]{episode.decision}[/bold]: {episode.reason}; "
            + ("no run started" if episode.run_id is None else f"run {episode.run_id[:12]}"),
            soft_wrap=True,
        )
        print_table(
            None,
            ["check", "passed", "detail"],
            [(c["name"], "yes" if c["passed"] else "no", c["detail"]) for c in episode.checks],
        )
