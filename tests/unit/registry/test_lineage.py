"""Lineage records: which items are missing, and what a diff reports."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from modelward.registry.gates import GateContext, LineageComplete, MetricAbove
from modelward.registry.gates import MetricBeatsProduction as Beats
from modelward.registry.lineage import ITEMS, diff, empty_record, missing_items
from modelward.registry.versions import ModelVersion, parse_ref


def complete() -> dict[str, Any]:
    record = empty_record()
    record.update(
        model_artifact={"uri": "models:/m-1"},
        datasets=[{"snapshot_id": "s1", "name": "c", "version": 1, "content_hash": "sha256:a"}],
        feature_views=[],
        params={"max_depth": "3"},
        metrics={"overall": {"auc": 0.9}, "segments": {}},
        evaluation={"snapshot_id": "s1", "content_hash": "sha256:a"},
        split={"logic": "random 80/20", "seed": 7},
        environment={"python": "3.11.7", "packages": {"numpy": "2.0"}, "packages_hash": "sha256:b"},
        git={"commit": "abc", "dirty": False},
        author="ana",
    )
    return record


def test_a_complete_record_misses_nothing_and_an_empty_one_misses_everything() -> None:
    assert missing_items(complete()) == []
    assert missing_items(empty_record()) == list(ITEMS)


def test_no_feature_view_is_a_known_answer_but_an_unknown_one_is_missing() -> None:
    record = complete()
    assert "feature views" not in missing_items(record)
    record["feature_views"] = None
    assert missing_items(record) == ["feature views"]


def test_a_split_without_a_seed_is_incomplete() -> None:
    record = complete()
    record["split"] = {"logic": "time-based", "seed": None}
    assert missing_items(record) == ["split logic and seed"]


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=5))
def test_diff_of_a_record_with_itself_is_empty_and_a_param_change_is_named(
    params: dict[str, str],
) -> None:
    old = complete() | {"params": params}
    assert diff(old, copy.deepcopy(old)) == []
    new = copy.deepcopy(old)
    new["params"] = {**params, "zz_new": "1"}
    assert [c.path for c in diff(old, new)] == ["params.zz_new"]


def test_diff_ignores_resources_and_run_id() -> None:
    old, new = complete(), complete()
    new["resources"] = {"cpu_seconds": 9.0}
    new["run_id"] = "other"
    assert diff(old, new) == []


def _version(version: int, lineage: dict[str, Any]) -> ModelVersion:
    missing = missing_items(lineage)
    return ModelVersion(
        "churn",
        version,
        "None",
        "modelward",
        None,
        "x",
        lineage,
        not missing,
        missing,
        "ana",
        datetime.now(UTC),
        None,
    )


def test_builtin_gates_report_evidence() -> None:
    prod = _version(1, complete())
    better = complete()
    better["metrics"] = {"overall": {"auc": 0.95}, "segments": {}}
    cand = _version(2, better)
    ctx = GateContext(cand, prod, "Production")
    result = Beats("auc", delta=0.01).evaluate(ctx)
    assert result.passed and result.evidence["improvement"] == 0.95 - 0.9
    assert not Beats("auc", delta=0.1).evaluate(ctx).passed
    assert not Beats("auc", higher_is_better=False).evaluate(ctx).passed
    assert Beats("auc").evaluate(GateContext(cand, None, "Production")).passed
    assert MetricAbove("auc", 0.94).evaluate(ctx).passed
    assert not MetricAbove("f1", 0.1).evaluate(ctx).passed
    bare = _version(3, empty_record())
    result = LineageComplete().evaluate(GateContext(bare, None, "Production"))
    assert not result.passed and result.evidence["missing"] == list(ITEMS)


def test_refs() -> None:
    assert parse_ref("churn@3") == ("churn", 3)
    assert parse_ref("churn@production") == ("churn", "Production")
