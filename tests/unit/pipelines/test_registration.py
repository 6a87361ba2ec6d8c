"""Registering a pipeline's model: the signature typed from the golden rows, the metrics a
gate can read, and a rerun of the same model on the same rows reusing its version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelward.config import Workspace
from modelward.pipelines.registration import (
    _fairness_metrics,
    _numbers,
    _registered_already,
    input_signature,
    register_candidate,
)
from modelward.pipelines.steps import StepContext
from modelward.session import Session
from tests.unit.registry.test_lineage import complete
from tests.unit.rollout.support import catalogue


def test_the_signature_types_each_column_from_the_golden_rows() -> None:
    rows = [
        {"tenure": 3, "spend": 9.5, "plan": "basic", "promo": True},
        {"tenure": 4.5, "spend": 1.0, "plan": None, "promo": False},
    ]
    signature = input_signature(rows, ["tenure", "spend", "plan", "promo"])
    assert [(c.name, c.type.name) for c in signature.inputs.inputs] == [
        ("tenure", "double"),  # integers and floats in one column: a float column
        ("spend", "double"),
        ("plan", "string"),  # a missing value says nothing against the others
        ("promo", "boolean"),  # a bool is not taken for an integer
    ]
    assert [c.type.name for c in input_signature([{"n": 1}], ["n"]).inputs.inputs] == ["long"]


@pytest.mark.parametrize(
    ("rows", "columns"),
    [
        ([{"a": None}], ["a"]),  # no value to tell the type by
        ([{"a": 1}, {"a": "x"}], ["a"]),  # two kinds
        ([{"a": [1, 2]}], ["a"]),  # not a column type
        ([{"a": 1}], []),  # no columns
    ],
)
def test_no_signature_when_a_column_cannot_be_typed(
    rows: list[dict[str, Any]], columns: list[str]
) -> None:
    assert input_signature(rows, columns) is None


def test_only_finite_numbers_are_logged_as_metrics() -> None:
    logged = _numbers(
        {"auc": 0.8, "n": 400, "rows": 3, "ok": True, "ece": float("nan"), "name": "x"}
    )
    assert logged == {"auc": 0.8, "rows": 3.0}  # n is a count of rows, not a metric


def test_fairness_figures_are_named_for_the_metric_gates() -> None:
    fairness = {
        "region": {
            "overall": {"selection_rate_ratio": 0.9, "selection_rate_difference": None},
            "groups": {},
        }
    }
    assert _fairness_metrics(fairness) == {"fairness.region.selection_rate_ratio": 0.9}


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


def registered_by_pipeline(session: Session, model_hash: str, train_hash: str) -> str:
    lineage = {
        **complete(),
        "pipeline_run": {"model": {"hash": model_hash}, "training_set_hash": train_hash},
    }
    [ref] = catalogue(session, "churn", [lineage])
    return ref


def test_a_version_with_the_same_model_and_training_set_is_found(session: Session) -> None:
    ref = registered_by_pipeline(session, "m1", "t1")
    assert _registered_already(session, "churn", "m1", "t1").ref == ref
    assert _registered_already(session, "churn", "m1", "t2") is None  # other rows
    assert _registered_already(session, "churn", "m2", "t1") is None  # another model
    assert _registered_already(session, "churn", None, "t1") is None  # nothing to compare
    assert _registered_already(session, "fraud", "m1", "t1") is None  # no such model yet


def test_a_rerun_of_the_same_model_on_the_same_rows_reuses_its_version(
    session: Session, tmp_path: Path
) -> None:
    ref = registered_by_pipeline(session, "m1", "t1")
    ctx = StepContext(
        "run-2",
        "churn-pipeline",
        "register",
        tmp_path,
        stored_inputs={"chosen_model": {"hash": "m1"}},
        _session=session,
    )
    evaluation = {"chosen": "gbm", "candidates": {"gbm": {}}, "acceptance": {"passed": False}}
    result = register_candidate(
        ctx, "churn", object(), evaluation, {"train_hash": "t1"}, {}, "validation"
    )
    assert result == {"version": ref, "accepted": False, "chosen": "gbm", "reused": True}
