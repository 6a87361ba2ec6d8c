"""The quickstart's "month in production" chapter, its own parts: the policy it adds once
(and a valid one), and the customers it asks about with the outcome each had.

(The chapter told end to end, gateway and loop included, is the quickstart's e2e test.)"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelward.cli.quickstart_month import ASKED, FIELDS, _add_policy, _latest_month
from modelward.config import Workspace, init_workspace
from modelward.examples.churn import write_churn_data
from modelward.retraining import policies_of
from modelward.session import Session


def test_the_policy_is_added_once_and_loads_as_a_policy(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    _add_policy(root)
    once = (root / "modelward.toml").read_text()
    _add_policy(root)  # the chapter run again
    assert (root / "modelward.toml").read_text() == once
    assert once.count('name = "churn-monthly"') == 1
    with Session(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "t"})) as session:
        [policy] = policies_of(session)
    assert (policy.name, policy.endpoint, policy.window_params) == (
        "churn-monthly",
        "churn",
        {"end": "as_of"},
    )
    assert policy.checks.min_label_coverage == 0.5


def test_the_latest_months_customers_come_with_their_own_outcomes(tmp_path: Path) -> None:
    write_churn_data(tmp_path / "data", customers=60, months=3)
    asked = _latest_month(tmp_path)
    assert len(asked) == ASKED
    assert all(tuple(inputs) == FIELDS for inputs, _ in asked)  # request fields only
    activity = pq.read_table(tmp_path / "data" / "activity.parquet")
    labels = pq.read_table(tmp_path / "data" / "labels.parquet")
    last = pc.max(activity["event_timestamp"])
    month = activity.filter(pc.equal(activity["event_timestamp"], last)).slice(0, ASKED)
    # the outcome of that month's observation (labelled an hour after it), not another's
    same_month = labels.filter(
        pc.equal(labels["event_timestamp"], pc.add(last, pa.scalar(timedelta(hours=1))))
    )
    churned = dict(
        zip(same_month["customer_id"].to_pylist(), same_month["churned"].to_pylist(), strict=True)
    )
    expected = [churned[c] for c in month["customer_id"].to_pylist()]
    assert [outcome for _, outcome in asked] == expected
    assert [inputs["tenure_months"] for inputs, _ in asked] == month["tenure_months"].to_pylist()
