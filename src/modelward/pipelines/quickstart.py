"""The pipeline part of ``modelward quickstart``: the churn example end to end.

:func:`prepare_example` copies the ``examples/churn`` project (feature definitions,
contracts, pipeline) into a workspace and generates its data; :func:`run_quickstart_pipeline`
then runs the pipeline three times: a first model (no champion yet) that becomes the
Production champion, a month later a challenger evaluated against it, and the same run
again to show that nothing is recomputed; finally it reproduces the champion.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelward.errors import Conflict, InputError

if TYPE_CHECKING:
    from rich.console import Console

    from modelward.pipelines.runs import PipelineRun
    from modelward.session import Session

__all__ = ["example_dir", "prepare_example", "run_quickstart_pipeline"]

_FILES = ("features.py", "pipelines.py", "contracts/activity.yaml", "contracts/labels.yaml")


def example_dir() -> Path:
    """The ``examples/churn`` project of a source checkout."""
    found = Path(__file__).resolve().parents[3] / "examples" / "churn"
    if not (found / "pipelines.py").is_file():
        raise InputError(
            f"{found}: the churn example project is not here; run from a source checkout",
            path=str(found),
        )
    return found


def _generator(source: Path) -> Any:
    from modelward.pipelines.worker import load_module_file

    return load_module_file(source / "generate.py", prefix="modelward_example_churn_")


def prepare_example(root: Path, *, months: int = 12, customers: int = 3_000) -> None:
    """Copy the example project into the workspace at ``root`` and write its data."""
    source = example_dir()
    for rel in _FILES:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target)
    _generator(source).write_churn_data(root / "data", customers=customers, months=months)


def run_quickstart_pipeline(
    session: Session, console: Console, *, executor: str | None = None
) -> list[PipelineRun]:
    """Run the churn pipeline as the quickstart shows it; the three runs."""
    from modelward.cli.pipelines import print_summary
    from modelward.pipelines.catalog import find_pipeline
    from modelward.pipelines.engine import load_output, run_pipeline
    from modelward.pipelines.reproduce import reproduce
    from modelward.registry.approvals import approve
    from modelward.registry.lifecycle import transition
    from modelward.registry.versions import get_version
    from modelward.security.roles import Principal, Role

    root = session.workspace.root
    gen = _generator(example_dir())
    churn = find_pipeline(session, "churn")
    runs = []

    def one(title: str, params: dict[str, Any]) -> PipelineRun:
        started = time.perf_counter()
        run = run_pipeline(session, churn, params, executor=executor)
        console.rule(f"{title} ({time.perf_counter() - started:.1f} s)")
        print_summary(run)
        run.raise_for_status()
        runs.append(run)
        return run

    first = one("pipeline run 1: first model, no champion yet", {})
    registered = load_output(session, first, "register")
    console.print(f"registered [bold]{registered['version']}[/bold] ({registered['chosen']})")
    if get_version(session, registered["version"]).stage != "Production":  # a second quickstart
        with contextlib.suppress(Conflict):
            approve(
                session,
                Principal("quickstart-reviewer", Role.APPROVER),
                registered["version"],
                "Production",
                comment="quickstart: reviewed the evaluation report",
            )
        transition(
            session,
            Principal(session.actor, Role.ADMIN),
            registered["version"],
            "Production",
            reason="quickstart: the first model becomes the champion",
            override_reason="quickstart demo workspace: not a git repository",
        )
    console.print(f"{registered['version']} promoted to Production: the champion")

    gen.write_churn_data(root / "data", months=13)
    as_of = (gen.AS_OF + timedelta(days=30)).isoformat()
    second = one("pipeline run 2: a month later, challenger vs champion", {"as_of": as_of})
    result = load_output(session, second, "register")
    evaluation = load_output(session, second, "evaluation")
    report = load_output(session, second, "report")
    verdict = "accepted" if result["accepted"] else "rejected"
    console.print(
        f"registered [bold]{result['version']}[/bold] ({result['chosen']}); acceptance policy "
        f"{verdict} against {evaluation['acceptance']['champion']}; report: {report['html']}"
    )
    one("pipeline run 3: the same inputs again (cache)", {"as_of": as_of})

    started = time.perf_counter()
    check = reproduce(session, registered["version"], executor=executor)
    console.rule(f"reproduce {check.ref} ({time.perf_counter() - started:.1f} s)")
    console.print(
        f"training set {'identical' if check.training_set.get('identical') else 'DIFFERS'}, "
        f"metrics and golden-set predictions: {len(check.differences)} difference(s); "
        f"verdict: [bold]{check.verdict}[/bold]"
    )
    return runs
