"""The shadow report as a page: it names the cohort where the disagreement lives, runs no
script, escapes what the data says, and is written whole or refused naming the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelward import rollout
from modelward.config import Workspace
from modelward.errors import StorageError
from modelward.monitoring import PredictionSink, open_prediction_sink
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.rollout.support import Setup, setup
from tests.unit.rollout.traffic import mirror

pytestmark = MLFLOW_WARNINGS


@pytest.fixture
def w(sqlite_workspace: Workspace) -> Iterator[Setup]:
    made = setup(sqlite_workspace)
    yield made
    made.session.close()


@pytest.fixture
def sink(sqlite_workspace: Workspace) -> Iterator[PredictionSink]:
    opened = open_prediction_sink({"type": "memory"}, sqlite_workspace.root)
    yield opened
    opened.close()


def _start(w: Setup, strategy: str = "shadow") -> rollout.Release:
    return rollout.start_release(
        w.session,
        w.operator,
        endpoint="churn",
        baseline=w.baseline,
        candidate=w.candidate,
        strategy=strategy,
    )


def test_the_html_page_names_the_cohort_and_runs_no_script(
    w: Setup, sink: PredictionSink, tmp_path: Path
) -> None:
    release = _start(w)
    rows = mirror(release, 600, seed=8)
    rows[0] = rows[0]._replace(inputs={**rows[0].inputs, "plan": "<script>alert(1)</script>"})
    sink.write(rows)
    data = rollout.shadow_report(w.session, sink, "churn", top=3).to_dict()
    path = rollout.write_shadow_html(data, tmp_path / "out" / "shadow.html")
    page = path.read_text(encoding="utf-8")
    assert "Disagreement concentrates where <b>plan = pro</b>" in page
    assert page.count("<svg") == 1 + len(data["ranges"])  # one chart per cohort breakdown
    assert "<script" not in page and "&lt;script&gt;" in page  # the logged value is escaped
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert [p.name for p in path.parent.iterdir()] == ["shadow.html"]  # no temporary left
    empty = rollout.render_shadow_html({**data, "pairs": 0})
    assert "No mirrored request is paired yet" in empty


def test_a_page_that_cannot_be_written_is_refused_naming_the_file(
    w: Setup, sink: PredictionSink, tmp_path: Path
) -> None:
    release = _start(w)
    sink.write(mirror(release, 50, seed=3))
    data = rollout.shadow_report(w.session, sink, "churn", top=1).to_dict()
    taken = tmp_path / "taken"
    taken.write_text("a file where the folder should be")
    with pytest.raises(StorageError, match=r"taken/shadow\.html: cannot write the shadow report"):
        rollout.write_shadow_html(data, taken / "shadow.html")


def test_names_from_the_data_are_escaped_in_the_title(w: Setup, sink: PredictionSink) -> None:
    release = _start(w)
    sink.write(mirror(release, 50, seed=3))
    data = rollout.shadow_report(w.session, sink, "churn", top=1).to_dict()
    names = {**data, "candidate": "<b>c</b>", "endpoint": 'e"p'}
    title = rollout.render_shadow_html(names).split("<title>")[1].split("</title>")[0]
    assert title == "Shadow &lt;b&gt;c&lt;/b&gt; vs " + data["baseline"] + " on e&quot;p"
