"""The supervised tabular template as defined (running it is the churn flow test)."""

from __future__ import annotations

from typing import Any

import pytest

from modelward.errors import InputError
from modelward.pipelines.template import Dataset, supervised_tabular


def _trainer(x: Any, y: Any, seed: int) -> Any:
    return None


def _build(**overrides: Any) -> Any:
    kwargs: dict[str, Any] = {
        "datasets": {"events": Dataset("events.parquet", contract="events.yaml")},
        "spine": "events",
        "label": "y",
        "entity_key": "id",
        "timestamp": "ts",
        "features": ["view:a"],
        "trainers": {"base": _trainer},
        "model_name": "m",
    }
    return supervised_tabular("tpl", **(kwargs | overrides))


def test_template_steps_in_order_with_typed_parameters() -> None:
    p = _build(on_registered=lambda ctx, registered: None)
    assert [s.name for s in p.order] == [
        "extract",
        "validate",
        "features",
        "split",
        "train_base",
        "champion",
        "evaluate",
        "register",
        "release",
    ]
    assert {k: v.type_name for k, v in p.params.items()} == {
        "as_of": "str",
        "split": "str",
        "test_fraction": "float",
        "seed": "int",
    }
    assert p.params["split"].choices == ("time", "random")
    # only extract reads the outside world (once, resolving every input to content hashes);
    # every other step is cached on what it reads; side effects are skipped on reproduce
    assert {s.name for s in p.order if not s.cache} == {"extract"}
    assert p.step("extract").outputs == ("extract", "inputs", "champion_ref")
    assert {s.name for s in p.order if s.side_effects} == {"register", "release"}


def test_trainer_code_is_part_of_the_cache_key() -> None:
    def other(x: Any, y: Any, seed: int) -> Any:
        return 1

    a = _build().step("train_base").code_hash
    b = _build(trainers={"base": other}).step("train_base").code_hash
    assert a != b


def test_template_refuses_an_unknown_spine_and_no_trainers() -> None:
    with pytest.raises(InputError, match="spine 'nope' is not one of the datasets"):
        _build(spine="nope")
    with pytest.raises(InputError, match="at least one trainer"):
        _build(trainers={})
