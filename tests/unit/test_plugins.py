"""Plugin families: a type is an import path loaded on demand, extended in process or by
entry points, and an unknown type refused by one error naming the setting."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

from modelward.errors import ConfigError, UnknownPluginType
from modelward.features.online import ONLINE_STORES
from modelward.pipelines.executors.base import EXECUTORS
from modelward.plugins import PluginFamily
from modelward.registry.gates.base import GATES, build_gates

FAMILY = PluginFamily(
    kind="widget",
    setting="things.widget",
    group="modelward.test_widgets",
    builtins={"json": "json:dumps", "missing": "modelward_no_such_package:thing"},
)


def test_a_builtin_type_is_its_import_path_loaded_on_demand() -> None:
    import json

    assert FAMILY.load("json") is json.dumps


def test_every_family_refuses_an_unknown_type_with_the_same_error() -> None:
    for family, setting in (
        (FAMILY, "things.widget"),
        (ONLINE_STORES, "features.online"),
        (EXECUTORS, "pipelines.executor"),
        (GATES, "gate_policy"),
    ):
        with pytest.raises(UnknownPluginType) as info:
            family.load("nope")
        assert info.value.details["field"] == f"{setting}.type"
        assert f"unknown {family.kind} 'nope'; known: " in info.value.message
        assert set(family.builtins) <= set(info.value.details["known"])


def test_a_builtin_whose_package_is_missing_names_it() -> None:
    with pytest.raises(ConfigError, match="needs a package that is not installed"):
        FAMILY.load("missing")


def test_in_process_registration_and_entry_points_extend_a_family(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    family = PluginFamily(kind="widget", setting="w", group="modelward.test_widgets", builtins={})
    family.register("mine", len)
    assert family.load("mine") is len

    point = importlib.metadata.EntryPoint("theirs", "os.path:join", "modelward.test_widgets")

    def entry_points(*, group: str) -> list[Any]:
        return [point] if group == "modelward.test_widgets" else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    import os.path

    assert family.load("theirs") is os.path.join
    assert family.types() == ["mine", "theirs"]


def test_gate_policies_name_gates_through_the_family() -> None:
    (gate,) = build_gates([{"type": "feature_skew", "view": "v", "sample": 5}])
    assert type(gate).__name__ == "FeatureSkewGate"
    with pytest.raises(UnknownPluginType, match=r"gate_policy\[0\]\.type: unknown gate 'x'"):
        build_gates([{"type": "x"}])
