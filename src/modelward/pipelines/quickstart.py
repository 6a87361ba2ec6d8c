"""The pipeline part of ``modelward quickstart``: the churn example end to end.

:func:`prepare_example` copies the ``examples/churn`` project (feature definitions,
contracts, pipeline) into a workspace, generates its data and commits the project to git
(so the lineage is complete); :func:`run_quickstart_pipeline` then runs the pipeline three
times: a first model (no champion yet) that passes its gates into Production as the
champion, a month later a challenger evaluated against it, and the same run again to show
that nothing is recomputed; finally it reproduces the champion. A second quickstart in the
same workspace trains and registers nothing, and says so.
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

__all__ = ["commit_workspace", "example_dir", "prepare_example", "run_quickstart_pipeline"]

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


def prepare_example(
    root: Path, *, months: int = 12, customers: int = 3_000, commit: bool = True
) -> str | None:
    """Copy the example project into the workspace at ``root`` and write its data.

    With ``commit``, the workspace becomes a git repository and its code is committed, so
    what the pipeline registers has complete lineage (the git commit is one of its items)
    and passes the lineage gate on its own. Returns the commit, or None without git.
    """
    source = example_dir()
    for rel in _FILES:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target)
    _generator(source).write_churn_data(root / "data", customers=customers, months=months)
    return commit_workspace(root) if commit else None


#: what a workspace keeps out of git: its stores and data live in snapshots, not in commits
_GITIGNORE = "mlflow.db\n.modelward/\ndata/\n__pycache__/\n"


def commit_workspace(root: Path) -> str | None:
    """``git init`` the workspace if needed and commit its files; the HEAD commit.

    A second call with nothing changed makes no commit. None when git is not installed
    (the quickstart then says why its champion needs an override).
    """
    import subprocess

    def git(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=check, timeout=60
        )

    try:
        if not (root / ".git").exists():
            git("init", "-q")
    except (OSError, subprocess.CalledProcessError):
        return None
    ignore = root / ".gitignore"
    if not ignore.exists():
        ignore.write_text(_GITIGNORE, encoding="utf-8")
    git("add", "-A")
    if git("diff", "--cached", "--quiet", check=False).returncode != 0:
        # a machine without a git identity still gets a commit, named for what made it
        who = (
            []
            if git("config", "user.email", check=False).stdout.strip()
            else [
                "-c",
                "user.name=modelward quickstart",
                "-c",
                "user.email=quickstart@modelward.invalid",
            ]
        )
        git(*who, "commit", "-q", "-m", "modelward quickstart: the churn example project")
    return git("rev-parse", "HEAD").stdout.strip()


def _what_happened(run: PipelineRun, registered: dict[str, Any]) -> str:
    ran = [s.step for s in run.steps if s.status == "succeeded"]
    trained = [s for s in ran if s.startswith("train_")]
    steps = f"{len(ran)} step(s) ran, {len(run.steps) - len(ran)} from the cache"
    steps += f" (trained: {', '.join(trained)})" if trained else "; trained nothing"
    if "register" not in ran:
        return f"{steps}; registered nothing new ({registered['version']}, from the cache)"
    if registered.get("reused"):
        return (
            f"{steps}; registered nothing new: {registered['version']} is this model "
            "on this training set"
        )
    return f"{steps}; registered [bold]{registered['version']}[/bold] ({registered['chosen']})"


def run_quickstart_pipeline(
    session: Session, console: Console, *, executor: str | None = None, customers: int = 3_000
) -> list[PipelineRun]:
    """Run the churn pipeline as the quickstart shows it; the three runs.

    Run twice in one workspace, it trains and registers nothing the second time, and says so.
    """
    from modelward.cli.pipelines import print_summary
    from modelward.errors import NotFound
    from modelward.pipelines.catalog import find_pipeline
    from modelward.pipelines.engine import load_output, run_pipeline
    from modelward.pipelines.reproduce import reproduce
    from modelward.registry import get_version
    from modelward.registry.approvals import approve
    from modelward.registry.lifecycle import transition
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

    try:
        champion = get_version(session, "churn@production")
    except NotFound:
        champion = None
    first = one(
        "pipeline run 1: first model, no champion yet"
        if champion is None
        else f"pipeline run 1: the first month again, champion {champion.ref}",
        {},
    )
    registered = load_output(session, first, "register")
    console.print(_what_happened(first, registered))
    version = get_version(session, registered["version"])
    if version.stage == "Production":
        console.print(f"{version.ref} is the champion already (Production)")
    elif champion is not None:
        console.print(f"the champion stays {champion.ref}")
    else:
        with contextlib.suppress(Conflict):
            approve(
                session,
                Principal("quickstart-reviewer", Role.APPROVER),
                version.ref,
                "Production",
                comment="quickstart: reviewed the evaluation report",
            )
        transition(
            session,
            Principal(session.actor, Role.ADMIN),
            version.ref,
            "Production",
            reason="quickstart: the first model becomes the champion",
            # only without git is the lineage short of its commit; the gate says so
            override_reason=None
            if version.lineage_complete
            else "quickstart demo workspace: git is not installed, so no commit",
        )
        console.print(
            f"{version.ref} promoted to Production: the champion (gates passed: lineage "
            f"{'complete' if version.lineage_complete else 'incomplete, overridden'})"
        )

    gen.write_churn_data(root / "data", months=13, customers=customers)
    as_of = (gen.AS_OF + timedelta(days=30)).isoformat()
    second = one("pipeline run 2: a month later, challenger vs champion", {"as_of": as_of})
    result = load_output(session, second, "register")
    evaluation = load_output(session, second, "evaluation")
    report = load_output(session, second, "report")
    verdict = "accepted" if result["accepted"] else "rejected"
    console.print(_what_happened(second, result))
    console.print(
        f"acceptance policy {verdict} against {evaluation['acceptance']['champion']}; "
        f"report: {report['html']}"
    )
    third = one("pipeline run 3: the same inputs again (cache)", {"as_of": as_of})
    console.print(_what_happened(third, load_output(session, third, "register")))

    started = time.perf_counter()
    check = reproduce(session, registered["version"], executor=executor)
    console.rule(f"reproduce {check.ref} ({time.perf_counter() - started:.1f} s)")
    console.print(
        f"training set {'identical' if check.training_set.get('identical') else 'DIFFERS'}, "
        f"metrics and golden-set predictions: {len(check.differences)} difference(s); "
        f"verdict: [bold]{check.verdict}[/bold]"
    )
    return runs
