"""The workspace's pipelines, found in the module ``[pipelines] module`` names: a missing
module says which setting to change, an unknown name lists the defined ones."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelward.config import Workspace
from modelward.errors import InputError, NotFound
from modelward.pipelines.catalog import find_pipeline, load_pipelines
from modelward.session import Session

MODULE = """
from modelward.pipelines import pipeline, step

@step
def load() -> int:
    return 1

churn = pipeline("churn", [load])
fraud = pipeline("fraud", [load])
also_churn = churn  # the same pipeline under a second name counts once
not_a_pipeline = load
"""


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


def test_every_module_level_pipeline_is_found_by_its_name(session: Session) -> None:
    (session.workspace.root / "pipelines.py").write_text(MODULE)
    found = load_pipelines(session)
    assert sorted(found) == ["churn", "fraud"]
    assert find_pipeline(session, "fraud").name == "fraud"


def test_an_unknown_pipeline_lists_the_defined_ones(session: Session) -> None:
    (session.workspace.root / "pipelines.py").write_text(MODULE)
    with pytest.raises(NotFound, match="no pipeline named 'nope'; defined: churn, fraud"):
        find_pipeline(session, "nope")


def test_a_missing_module_names_the_file_and_the_setting(session: Session) -> None:
    with pytest.raises(InputError, match=r"module not found; set \[pipelines\] module") as info:
        load_pipelines(session)
    assert info.value.details["file"] == str(session.workspace.root / "pipelines.py")


def test_a_path_given_is_read_relative_to_the_workspace(session: Session) -> None:
    (session.workspace.root / "flows").mkdir()
    (session.workspace.root / "flows" / "train.py").write_text(MODULE)
    assert sorted(load_pipelines(session, "flows/train.py")) == ["churn", "fraud"]
