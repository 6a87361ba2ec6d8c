"""The retraining loop on the churn example: a trigger judged, the real pipeline run over
the policy's window, its candidate evaluated against the champion and put in a shadow
release, while the Production stage stays where the stage policy left it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from modelward import registry, rollout
from modelward.config import Workspace, init_workspace
from modelward.examples import HISTORY_AS_OF, prepare_example, write_churn_data
from modelward.pipelines import find_pipeline, get_run, run_pipeline
from modelward.registry.tables import model_versions
from modelward.retraining import handle_trigger, policies_of
from modelward.retraining.triggers import manual
from modelward.security import Role
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, principal

pytestmark = [pytest.mark.slow, *MLFLOW_WARNINGS]

#: a month after the example's history: one more month of data has arrived
LATER = HISTORY_AS_OF + timedelta(days=30)


def test_a_trigger_retrains_over_its_window_and_shadows_the_accepted_candidate(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    init_workspace(root, project="churn")
    prepare_example(root, customers=1_000)
    with (root / "modelward.toml").open("a") as toml:
        toml.write(
            # one process: the pipeline's steps in worker processes only add start-up time here
            '\n[pipelines]\nexecutor = "inline"\n'
            '\n[[retraining.policies]]\nname = "churn-retrain"\nendpoint = "churn"\n'
            'model = "churn"\npipeline = "churn"\nwindow_days = 360\n'
            'window_params = {end = "as_of"}\n'
        )
    with Session(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "tester"})) as s:
        first = run_pipeline(s, find_pipeline(s, "churn"))
        assert first.ok, first.error
        # the champion, as the stage policy's gates and approvals would have made it
        with s.store.transaction() as conn:
            conn.execute(
                update(model_versions)
                .where(model_versions.c.model_name == "churn", model_versions.c.version == 1)
                .values(stage="Production")
            )
        write_churn_data(root / "data", customers=1_000, months=13)
        operator = principal(s, "olga", Role.OPERATOR)
        (policy,) = policies_of(s)
        episode = handle_trigger(
            s, operator, policy, manual("a month of new data", "olga", LATER), now=LATER
        )
        assert episode.decision == "retrain", episode.reason
        # the run is a real pipeline run, over the window the episode stored
        run = get_run(s, episode.run_id or "")
        assert run.trigger == "retraining" and run.params["as_of"] == LATER.isoformat()
        assert episode.window_end == LATER
        assert episode.candidate == "churn@2"
        assert (episode.state, episode.stage) == ("releasing", 0), episode.reason
        release = rollout.get_release(s, episode.release_id or "")
        assert (release.strategy.value, release.baseline, release.candidate) == (
            "shadow",
            "churn@1",
            "churn@2",
        )
        # nothing moved the registry's stages: that is the stage policy's to allow
        assert registry.get_version(s, "churn@production").ref == "churn@1"
        assert registry.get_version(s, "churn@2").stage == "None"
