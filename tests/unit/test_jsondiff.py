"""What changed between two JSON documents, as dotted paths with the old and the new value."""

from __future__ import annotations

from modelward.jsondiff import json_changes


def test_json_changes_walks_objects_and_optionally_lists() -> None:
    old = {"m": {"auc": 0.8, "n": [1, 2]}, "run_id": "a", "datasets": [{"id": 1}]}
    new = {"m": {"auc": 0.9, "n": [1, 3]}, "run_id": "b", "datasets": [{"id": 2}]}
    assert json_changes(old, new, skip={"run_id"}, leaves={"datasets"}) == [
        ("datasets", [{"id": 1}], [{"id": 2}]),
        ("m.auc", 0.8, 0.9),
        ("m.n", [1, 2], [1, 3]),
    ]
    assert ("m.n[1]", 2, 3) in json_changes(old, new, into_lists=True)


def test_equal_documents_have_no_changes_and_a_missing_key_reads_as_none() -> None:
    doc = {"params": {"depth": 3}, "tags": ["a"]}
    assert json_changes(doc, {"params": {"depth": 3}, "tags": ["a"]}) == []
    assert json_changes({"params": {}}, {"params": {"lr": 0.1}}) == [("params.lr", None, 0.1)]
    assert json_changes({"a": 1}, {}) == [("a", 1, None)]


def test_lists_of_other_lengths_are_compared_whole_even_into_lists() -> None:
    # element by element would pair the wrong items once one is inserted
    assert json_changes({"n": [1, 2]}, {"n": [0, 1, 2]}, into_lists=True) == [
        ("n", [1, 2], [0, 1, 2])
    ]


def test_a_skipped_path_is_not_compared_even_when_it_is_an_object() -> None:
    old = {"env": {"python": "3.12"}, "m": 1}
    new = {"env": {"python": "3.13"}, "m": 1}
    assert json_changes(old, new, skip={"env"}) == []
    assert json_changes(old, new, leaves={"env"}) == [
        ("env", {"python": "3.12"}, {"python": "3.13"})
    ]


def test_a_value_changing_type_is_one_change_at_its_path() -> None:
    assert json_changes({"x": {"a": 1}}, {"x": 5}) == [("x", {"a": 1}, 5)]
