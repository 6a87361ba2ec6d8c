"""The one implementation of each shared piece: plugins, user modules, URL redaction, JSON diff."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import pytest

from modelward.connections import redact_url
from modelward.errors import ConfigError, InputError, UnknownPluginType
from modelward.features.online import ONLINE_STORES
from modelward.jsondiff import json_changes
from modelward.pipelines.executors.base import EXECUTORS
from modelward.plugins import PluginFamily
from modelward.registry.gates.base import GATES, build_gates
from modelward.usercode import load_module_file

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


def test_a_user_module_is_reloaded_or_reused_as_asked(tmp_path: Path) -> None:
    path = tmp_path / "defs.py"
    path.write_text("VALUE = 1\n")
    first = load_module_file(path, prefix="mw_test_", reuse=True)
    assert load_module_file(path, prefix="mw_test_", reuse=True) is first  # unchanged: reused
    assert load_module_file(path, prefix="mw_test_", reuse=False) is not first
    # an edit in the same second that keeps the size (what a .pyc cannot tell apart)
    path.write_text("VALUE = 2\n")
    edited = load_module_file(path, prefix="mw_test_", reuse=True)
    assert edited is not first and edited.VALUE == 2
    assert load_module_file(path, prefix="mw_test_", reuse=True) is edited


def test_a_user_module_that_fails_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("raise RuntimeError('nope')\n")
    with pytest.raises(InputError, match=r"broken\.py: loading the definitions failed"):
        load_module_file(path, prefix="mw_test_", what="the definitions")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://ops:s3cret@cache/1", "redis://ops:***@cache/1"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("postgresql+psycopg://u:p%40ss@db/x", "postgresql+psycopg://u:***@db/x"),
    ],
)
def test_a_url_never_shows_its_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cret" not in redact_url(url)


def test_json_changes_walks_objects_and_optionally_lists() -> None:
    old = {"m": {"auc": 0.8, "n": [1, 2]}, "run_id": "a", "datasets": [{"id": 1}]}
    new = {"m": {"auc": 0.9, "n": [1, 3]}, "run_id": "b", "datasets": [{"id": 2}]}
    assert json_changes(old, new, skip={"run_id"}, leaves={"datasets"}) == [
        ("datasets", [{"id": 1}], [{"id": 2}]),
        ("m.auc", 0.8, 0.9),
        ("m.n", [1, 2], [1, 3]),
    ]
    assert ("m.n[1]", 2, 3) in json_changes(old, new, into_lists=True)
