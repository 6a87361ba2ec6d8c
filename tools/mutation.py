"""Mutation testing of the modules that carry modelward's promises, one module at a time.

Each module runs mutmut in its own work folder under ``.mutation/<module>/`` (a copy of
``src/``, ``tests/`` and ``examples/`` plus a ``pyproject.toml`` whose ``[tool.mutmut]``
names that one module and the tests that claim its behaviour). One module at a time with
one or two workers keeps a shared 2-core machine usable; mutmut remembers results, so a
rerun only retests functions that changed.

    python tools/mutation.py                       # every module below (long: hours)
    python tools/mutation.py --modules data.hashing,security.audit
    python tools/mutation.py --ci                   # a bounded sample, for .ci/run

Prints a table per module (mutants, killed, survived, score) and writes
``.mutation/report.json`` with every surviving mutant's diff, for docs/testing.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
BIN = Path(sys.executable).parent

# module -> the tests that claim its behaviour (run in process: mutants are invisible to
# the subprocesses some flow tests start, so those add time and kill nothing)
MODULES: dict[str, list[str]] = {
    "data.hashing": ["tests/unit/data/test_hashing.py", "tests/unit/data/test_hashing_edges.py"],
    # the faults that need another process (full disk, denied folder, kill -9, racing
    # writers) are in test_snapshot_crashes.py, not here: the killed writer's sweep alone
    # cost 3 s a mutant in process and killed nothing the records' sweep test does not
    "data.snapshots": [
        "tests/unit/data/test_snapshots_records.py",
        "tests/unit/data/test_snapshots_writes.py",
        "tests/integration/flows/test_snapshots.py",
        "tests/unit/data/test_hashing_edges.py",
    ],
    "data.contracts": [
        "tests/unit/data/test_contracts.py",
        "tests/unit/data/test_contracts_rules.py",
    ],
    "data.validation": [
        "tests/unit/data/test_validation.py",
        "tests/unit/data/test_validation_report.py",
        "tests/unit/data/test_properties.py",
    ],
    # the point-in-time property test is left out: it alone took 16 of the 22 s each
    # surviving mutant costs, and the examples beside it pin the edges it reaches
    "features.offline": [
        "tests/unit/features/test_offline.py",
        "tests/unit/features/test_offline_records.py",
        "tests/unit/features/test_ttl_edges.py",
    ],
    "features.sources": [
        "tests/unit/features/test_sources.py",
        "tests/unit/features/test_offline.py",
        "tests/unit/features/test_offline_records.py",
        "tests/unit/features/test_materialization.py",
    ],
    "features.lookup": [
        "tests/unit/features/test_lookup.py",
        "tests/unit/features/test_definitions_and_lookup.py",
        "tests/unit/features/test_ttl_edges.py",
    ],
    "features.materialization": [
        "tests/unit/features/test_materialization.py",
        "tests/unit/features/test_materialization_records.py",
        "tests/integration/flows/test_features_materialize.py",
    ],
    "registry.approvals": ["tests/unit/registry/test_approvals.py"],
    "registry.lifecycle": [
        "tests/unit/registry/test_lifecycle.py",
        "tests/unit/registry/test_approvals.py",
        "tests/integration/flows/test_registry_lifecycle.py",
    ],
    "registry.gates.builtin": [
        "tests/unit/registry/test_gates.py",
        "tests/unit/registry/test_gates_builtin.py",
        "tests/unit/registry/test_lineage.py",
    ],
    "registry.gates.base": ["tests/unit/registry/test_gates.py"],
    "registry.lineage": [
        "tests/unit/registry/test_gates.py",
        "tests/unit/registry/test_lineage.py",
        "tests/unit/registry/test_lineage_records.py",
    ],
    "security.audit": [
        "tests/unit/security/test_audit.py",
        "tests/integration/backends/test_audit_chain.py",
    ],
    "security.tokens": [
        "tests/unit/security/test_tokens.py",
        "tests/unit/security/test_tokens_rules.py",
        "tests/unit/security/test_tokens_records.py",
    ],
    "serving.resilience": [
        "tests/unit/serving/test_resilience.py",
        "tests/unit/serving/test_resilience_rules.py",
    ],
    "serving.binding": ["tests/unit/serving/test_binding.py"],
    "serving.bundles": ["tests/unit/serving/test_bundles.py"],
    "serving.scoring_core": ["tests/unit/serving/test_scoring_core.py"],
    "serving.schema": [
        "tests/unit/serving/test_schema.py",
        "tests/unit/serving/test_schema_rules.py",
        "tests/unit/serving/test_fuzz.py",
    ],
    "pipelines.cache": ["tests/unit/pipelines/test_cache.py"],
    "pipelines.reproduction": [
        "tests/unit/pipelines/test_reproduction.py",
        "tests/unit/pipelines/test_reproduction_report.py",
    ],
}

# pytest options for every mutant run: the Postgres half of the backend matrix doubles
# the time and the dialect-specific lines are few; they are listed as not covered here.
# The hypothesis profile (tests/conftest.py) skips shrinking a failing property's example.
PYTEST_ARGS = [
    "-p",
    "no:cacheprovider",
    "-m",
    "not postgres and not redis",
    "-q",
    "--hypothesis-profile=mutation",
]


@dataclass
class ModuleResult:
    module: str
    mutants: int = 0
    killed: int = 0
    survived: int = 0
    timeout: int = 0
    no_tests: int = 0
    other: int = 0
    seconds: float = 0.0
    survivors: dict[str, str] = field(default_factory=dict)

    @property
    def score(self) -> float:
        judged = self.killed + self.survived + self.timeout
        return 100.0 * (self.killed + self.timeout) / judged if judged else 100.0


#: modules whose full run has reached the 90% goal (docs/testing.md); CI samples only these,
#: so a commit's CI result never depends on which module it happens to touch. A module
#: joins the list when its full `make mutation MODULES=...` run reaches the goal.
AT_GOAL = (
    "data.hashing",
    "data.validation",
    "data.contracts",
    "serving.schema",
    "security.audit",
    "registry.gates.base",
    "registry.approvals",
    "security.tokens",
    "pipelines.cache",
    "pipelines.reproduction",
    "registry.lineage",
    "features.offline",
    "features.lookup",
    "features.materialization",
    "registry.gates.builtin",
    "features.sources",
    "data.snapshots",
    "serving.resilience",
    "serving.binding",
    "serving.scoring_core",
    "registry.lifecycle",
)


def _source_file(module: str) -> str:
    return f"src/modelward/{module.replace('.', '/')}.py"


def _sync(src: Path, dst: Path) -> None:
    """Copy a tree, keeping mtimes (mutmut reuses results for files whose mtime is unchanged)."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(
        src, dst, copy_function=shutil.copy2, ignore=shutil.ignore_patterns("__pycache__")
    )


def _prepare(module: str, tests: list[str]) -> Path:
    work = WORK / module
    work.mkdir(parents=True, exist_ok=True)
    for name in ("src", "tests", "examples"):
        if (ROOT / name).exists():
            _sync(ROOT / name, work / name)
    config = (ROOT / "pyproject.toml").read_text()
    config = re.sub(r"\n\[tool\.mutmut\][^\[]*", "\n", config)
    config += (
        "\n[tool.mutmut]\n"
        'source_paths = ["src/"]\n'
        f"only_mutate = [{json.dumps(_source_file(module))}]\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        f"pytest_add_cli_args = {json.dumps(PYTEST_ARGS)}\n"
    )
    (work / "pyproject.toml").write_text(config)
    return work


#: every mutant's status after the module's last whole-module run (or rerun of survivors)
_STATUSES = "statuses.json"

_LINE = re.compile(r"^\s*(\S+__mutmut_\d+): (.+)$")


def _results(work: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(BIN / "mutmut"), "results", "--all", "true"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {m.group(1): m.group(2).strip() for line in out.splitlines() if (m := _LINE.match(line))}


def _diff(work: Path, name: str) -> str:
    shown = subprocess.run(
        [str(BIN / "mutmut"), "show", name], cwd=work, capture_output=True, text=True, check=False
    ).stdout
    return "\n".join(
        line
        for line in shown.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    )


def run_module(
    module: str,
    *,
    max_children: int,
    names: list[str] | None = None,
    budget_s: float | None = None,
    judge_only_named: bool = True,
    previous: dict[str, str] | None = None,
) -> ModuleResult:
    work = _prepare(module, MODULES[module])
    began = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with (work / "run.log").open("w") as log:
        child = subprocess.Popen(
            [str(BIN / "mutmut"), "run", "--max-children", str(max_children), *(names or [])],
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its forked workers are stopped with it
        )
        try:
            child.wait(timeout=budget_s)
        except subprocess.TimeoutExpired:
            # out of time: stop, and judge the mutants that were finished (mutmut keeps them)
            os.killpg(child.pid, signal.SIGTERM)
            child.wait()
    # a rerun of some mutants: the others keep the status of the run before (mutmut
    # marks them "not checked" once the copied tests change)
    statuses = {
        **(previous or {}),
        **{k: v for k, v in _results(work).items() if k in set(names or ()) or not previous},
    }
    if not judge_only_named:  # a whole-module view: what --survivors starts from next time
        (work / _STATUSES).write_text(json.dumps(statuses, indent=1, sort_keys=True))
    if names is not None and judge_only_named:
        statuses = {k: v for k, v in statuses.items() if k in set(names)}
    statuses = {k: v for k, v in statuses.items() if v != "not checked"}
    result = ModuleResult(module, seconds=time.monotonic() - began)
    for name, status in statuses.items():
        result.mutants += 1
        if status == "killed":
            result.killed += 1
        elif status == "survived":
            result.survived += 1
            result.survivors[name] = _diff(work, name)
        elif status == "timeout":
            result.timeout += 1
        elif status == "no tests":
            result.no_tests += 1
        else:
            result.other += 1
    return result


def _all_names(module: str, budget_s: float | None) -> list[str]:
    """Every mutant of ``module``: generating them runs the module's tests once (for the
    map of which test covers which function) and then stops, as no mutant is named."""
    work = WORK / module
    names = list(_results(work)) if work.exists() else []
    if not names:
        run_module(module, max_children=1, names=["__none__"], budget_s=budget_s)
        names = list(_results(work))
    return names


def _print(results: list[ModuleResult]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency
        for r in results:
            print(r.module, r.mutants, r.killed, r.survived, f"{r.score:.1f}%")
        return
    table = Table(title="mutation testing")
    for col in ("module", "mutants", "killed", "timeout", "survived", "no tests", "score", "time"):
        table.add_column(col, justify="left" if col == "module" else "right", no_wrap=True)
    total = ModuleResult("total")
    for r in results:
        table.add_row(
            r.module,
            str(r.mutants),
            str(r.killed),
            str(r.timeout),
            str(r.survived),
            str(r.no_tests),
            f"{r.score:.1f}%",
            f"{r.seconds:.0f}s",
        )
        for attr in ("mutants", "killed", "survived", "timeout", "no_tests", "other", "seconds"):
            setattr(total, attr, getattr(total, attr) + getattr(r, attr))
    table.add_row(
        "total",
        str(total.mutants),
        str(total.killed),
        str(total.timeout),
        str(total.survived),
        str(total.no_tests),
        f"{total.score:.1f}%",
        f"{total.seconds:.0f}s",
        style="bold",
    )
    Console(width=120).print(table)


def _changed_modules() -> list[str]:
    """Promise modules touched by the last commit (a merge: everything it brought in)."""
    out = subprocess.run(
        ["git", "diff", "--name-only", "HEAD~1", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return [m for m in MODULES if _source_file(m) in out]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", help="comma-separated, e.g. data.hashing,security.audit")
    parser.add_argument("--max-children", type=int, default=1)
    parser.add_argument("--ci", action="store_true", help="a bounded sample of mutants")
    parser.add_argument("--sample", type=int, default=25, help="mutants per module with --ci")
    parser.add_argument("--fail-under", type=float, default=None, help="minimum score, percent")
    parser.add_argument("--budget-s", type=float, default=None, help="seconds per module at most")
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="rerun only the mutants that survived the module's last run (after adding tests), "
        "and those it left unjudged; the score is the module's, over every mutant",
    )
    args = parser.parse_args(argv)

    if args.modules:
        modules = [m.strip() for m in args.modules.split(",") if m.strip()]
        unknown = [m for m in modules if m not in MODULES]
        if unknown:
            parser.error(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(MODULES)}")
    elif args.ci:
        # of the modules at goal: one the change touched, else one chosen by the commit, so
        # that successive commits sample all of them over time
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
        touched = [m for m in _changed_modules() if m in AT_GOAL]
        modules = touched[:1] or [
            AT_GOAL[int(hashlib.sha256(head.encode()).hexdigest(), 16) % len(AT_GOAL)]
        ]
    else:
        modules = list(MODULES)

    results = []
    for module in modules:
        names = None
        last: dict[str, str] = {}
        if args.ci:
            every = _all_names(module, args.budget_s)
            if not every:
                print(f"{module}: no mutants within the budget; nothing sampled")
                continue
            rng = random.Random(f"{module}:{len(every)}")  # noqa: S311 - a sample, not a secret
            names = sorted(rng.sample(every, min(args.sample, len(every))))
        elif args.survivors:
            saved = WORK / module / _STATUSES
            last = json.loads(saved.read_text()) if saved.exists() else _results(WORK / module)
            # "not checked": left unjudged by a run that ran out of its --budget-s;
            # "segfault": the forked child crashed before its tests could judge the mutant
            retest = ("survived", "no tests", "not checked", "segfault")
            names = sorted(n for n, status in last.items() if status in retest)
            if not names:
                print(f"{module}: no survivors of a last run to retest")
                continue
        results.append(
            run_module(
                module,
                max_children=args.max_children,
                names=names,
                budget_s=args.budget_s,
                judge_only_named=args.ci,
                previous=last if args.survivors else None,
            )
        )
        _print(results)

    WORK.mkdir(exist_ok=True)
    report = [asdict(r) | {"score": round(r.score, 2)} for r in results]
    (WORK / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps([{k: v for k, v in r.items() if k != "survivors"} for r in report]))
    for r in results:
        for name, diff in r.survivors.items():
            print(f"\nsurvived: {name}\n{diff}")
    empty = [r for r in results if not r.killed + r.survived + r.timeout]
    for r in empty:  # the score of no judged mutant is 100%, which would say nothing
        print(
            f"{r.module}: no mutant was judged (out of budget, or mutmut failed: "
            f"{WORK / r.module / 'run.log'}); this run shows nothing about it"
        )
    if empty and not args.ci:  # a whole run that judged nothing is a broken run
        return 1
    if args.fail_under is not None:
        low = [r for r in results if r.score < args.fail_under]
        if low:
            print(f"below {args.fail_under}%: {', '.join(r.module for r in low)}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
