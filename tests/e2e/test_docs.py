"""Every code block in README.md, CONTRIBUTING.md and docs/*.md runs as written, or is checked.

Each fenced block is taken by its language:

* shell (``sh``, ``console`` ``$`` lines, or an unlabelled block of commands): each command
  must exist as typed: ``modelward ...`` is parsed by the real command line (the command,
  every option, every value's type and range: ``--port 99999`` fails here), ``make X`` must
  be a Makefile target, a script must exist in the repository;
* ``python``: compiles, and every ``modelward`` import and ``mw.<name>`` it uses exists;
* ``yaml`` / ``toml`` / ``json``: parse, and an endpoint definition, a data contract or a
  ``modelward.toml`` is validated by the code that reads it;
* an unlabelled block that is not commands is output or a diagram: not checked.

A comment line ``<!-- doctest: MARK -->`` just before a block says more:
``skip: why`` (never checked, the reason shown), ``server`` (commands that need a running
server, e.g. ``curl``: checked, not run), ``run-after-quickstart`` (also run for real, in
order, by ``test_readme_runs_after_the_quickstart``), ``transcript`` (a ``console`` block
whose ``$`` commands are run and whose shown output must appear, ``...`` matching anything).
"""

from __future__ import annotations

import ast
import functools
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelward.config import Workspace
from modelward.registry import list_versions
from modelward.registry.lifecycle import history
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS

# the README test reads the quickstart's registry in-process too
pytestmark = MLFLOW_WARNINGS
REPO = Path(__file__).resolve().parents[2]
FILES = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]
_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[A-Za-z0-9_+-]*)\s*$")
_MARK = re.compile(r"^\s*<!--\s*doctest:\s*(?P<mark>.*?)\s*-->\s*$")
_SHELL = {"sh", "bash", "shell", "console"}
_COMMANDS = ("modelward ", "make ", ".venv/bin/", ". .venv", "curl ", "python ", "$ ")
_OK_PROGRAMS = {"cd", "echo", "export", "true"}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    text: str
    mark: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    @property
    def is_shell(self) -> bool:
        if self.lang in _SHELL:
            return True
        first = next((ln.strip() for ln in self.text.splitlines() if ln.strip()), "")
        return self.lang == "" and first.startswith(_COMMANDS)


def blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        indent, lang = fence["indent"], fence["lang"]
        mark = ""
        for back in range(i - 1, -1, -1):
            if lines[back].strip():
                found = _MARK.match(lines[back])
                mark = found["mark"] if found else ""
                break
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        yield Block(path, i + 1, lang, "\n".join(body), mark)
        i = j + 1


ALL = [b for f in FILES for b in blocks(f)]


# --------------------------------------------------------------------------- commands


_CAPTURE = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*=\$\((?P<inner>.*)\)\s*(#.*)?$")


def _is_console(block: Block) -> bool:
    first = next((ln for ln in block.text.splitlines() if ln.strip()), "")
    return block.lang == "console" or first.startswith("$ ")


def commands(block: Block) -> Iterator[list[str]]:
    """Each command of a shell block as argv (comments, prompts and env assignments gone;
    ``VAR=$(command)`` is the command)."""
    raw = block.text.splitlines()
    if _is_console(block):
        raw = [ln[2:] for ln in raw if ln.startswith("$ ")]
    raw = [m["inner"] if (m := _CAPTURE.match(ln)) else ln for ln in raw]
    joined: list[str] = []
    for ln in raw:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + ln.strip()
        else:
            joined.append(ln)
    for ln in joined:
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        words = shlex.split(ln, comments=True)
        argv: list[str] = []
        for word in [*words, "&&"]:
            if word in ("&&", "||", ";", "|"):
                while argv and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", argv[0]):
                    argv.pop(0)
                if argv:
                    yield argv
                argv = []
            else:
                argv.append(word)


def _makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^([A-Za-z][\w.-]*):", text, re.M)}


@functools.cache
def _cli_root() -> Any:
    from typer.main import get_command

    app_module = importlib.import_module("modelward.cli.app")
    app_module._register()
    return get_command(app_module.app)


def check_cli(args: list[str]) -> None:
    """Parse ``modelward ARGS`` as the real command line would, without running it.

    With ``--help`` the command path must exist; its options are not all needed then.
    """
    helping = "--help" in args
    args = [a for a in args if a != "--help"]
    cmd, parent, name, rest = _cli_root(), None, "modelward", list(args)
    while True:
        if helping and not rest:
            return
        ctx = cmd.make_context(name, rest, parent=parent, resilient_parsing=helping)
        if not hasattr(cmd, "resolve_command"):
            return
        protected = ctx._protected_args if hasattr(ctx, "_protected_args") else ctx.protected_args
        remaining = [*protected, *ctx.args]
        if not remaining:
            return
        name, cmd, rest = cmd.resolve_command(ctx, remaining)
        parent = ctx


def check_command(argv: list[str], block: Block) -> None:
    program = argv[0]
    if program == "modelward":
        check_cli(argv[1:])
    elif program == "make":
        targets = {a for a in argv[1:] if "=" not in a}  # VAR=value sets a make variable
        assert targets <= _makefile_targets(), f"no Makefile target {sorted(targets)}"
    elif program in (".", "source"):
        assert argv[1:] == [".venv/bin/activate"], argv
    elif program.endswith("python") or program == "python3":
        script = next((a for a in argv[1:] if a.endswith(".py")), None)
        assert script is None or (REPO / script).is_file() or "user" in block.mark, (
            f"{script}: no such script in the repository"
        )
    elif program == "curl":
        assert "server" in block.mark, "a curl line needs a running server: mark it `server`"
    else:
        assert program in _OK_PROGRAMS, f"{program!r}: not a command this project provides"


# ----------------------------------------------------------------------------- python


def check_python(block: Block) -> None:
    tree = compile(block.text, block.where, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("modelward"):
            module = importlib.import_module(node.module or "")
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("modelward"):
                    importlib.import_module(alias.name)
        elif isinstance(node, ast.Attribute):
            chain = _chain(node)
            if chain and chain[0] == "mw":
                _resolve(chain)


def _chain(node: ast.Attribute) -> list[str] | None:
    names: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        names.insert(0, current.attr)
        current = current.value
    return [current.id, *names] if isinstance(current, ast.Name) else None


def _resolve(chain: list[str]) -> None:
    import modelward

    target: Any = modelward
    for i, name in enumerate(chain[1:], start=1):
        if not hasattr(target, name):
            if i == 1 or isinstance(target, type(modelward)):
                raise AssertionError(f"{'.'.join(chain[: i + 1])} does not exist")
            return  # an attribute of a value (a snapshot's .ref): not ours to resolve here
        target = getattr(target, name)


# ----------------------------------------------------------------------------- data


def check_data(block: Block) -> None:
    if block.lang == "json":
        json.loads(block.text)
        return
    if block.lang == "toml":
        data = tomllib.loads(block.text)
        if isinstance(
            data.get("project"), dict
        ):  # a pyproject.toml fragment: entry points are "module:attr"
            for group in data["project"].get("entry-points", {}).values():
                for target in group.values():
                    module, _, attr = target.partition(":")
                    assert module and attr.isidentifier(), f"{block.where}: {target!r}"
            return
        if "audit_key" in data or "database_password" in data:
            from modelward.config.settings import Secrets

            Secrets.model_validate(data)
            return
        from modelward.config.settings import Settings

        Settings.model_validate(data)
        return
    data = yaml.safe_load(block.text)
    if isinstance(data, dict) and {"model", "request"} <= set(data):
        from modelward.serving.endpoints import parse_spec

        parse_spec(data)
    elif isinstance(data, dict) and "columns" in data:
        from modelward.data.contracts import parse_contract

        parse_contract(data, block.where)


@pytest.mark.parametrize("block", ALL, ids=[b.where for b in ALL])
def test_every_block_is_valid_as_written(block: Block) -> None:
    if block.mark.startswith("skip"):
        assert block.mark.startswith("skip:") and len(block.mark) > 8, "say why it is skipped"
        pytest.skip(block.mark)
    if block.is_shell:
        found = list(commands(block))
        assert found, f"{block.where}: a shell block without a command"
        for argv in found:
            check_command(argv, block)
    elif block.lang == "python":
        check_python(block)
    elif block.lang in ("json", "toml", "yaml"):
        check_data(block)


def test_the_readme_python_example_names_features_the_quickstart_defines() -> None:
    """It once asked for `activity:sessions` and `spend_per_session`, defined nowhere."""
    source = (REPO / "examples" / "churn" / "features.py").read_text(encoding="utf-8")
    defined = set(re.findall(r'Feature\("([a-z_]+)"', source))
    views = set(re.findall(r'FeatureView\(\s*"([a-z_]+)"', source))
    readme = [b for b in blocks(REPO / "README.md") if b.lang == "python"]
    assert readme
    for block in readme:
        for view, feature in re.findall(r'"([a-z_]+):([a-z_]+)"', block.text):
            assert view in views and feature in defined, f"{view}:{feature} is not defined"


# ------------------------------------------------------------------ run for real


def _transcript_steps(block: Block) -> list[tuple[str, list[str]]]:
    steps: list[tuple[str, list[str]]] = []
    for ln in block.text.splitlines():
        if ln.startswith("$ "):
            steps.append((ln[2:], []))
        elif steps and ln.strip():
            steps[-1][1].append(ln)
    return steps


def _pattern(shown: str) -> re.Pattern[str]:
    words = shown.split("#")[0].strip() if " # " in shown else shown.strip()
    parts = [re.escape(" ".join(p.split())) for p in words.split("...")]
    return re.compile(r".*?".join(parts))


def _flat(text: str) -> str:
    return " ".join(re.sub(r"[│┃┏┓┗┛━─┡┩┠┨╇╋┳┻┣┫]", " ", text).split())


def run_shell(script: list[str], cwd: Path, env: dict[str, str]) -> list[tuple[int, str]]:
    """Run each command in one bash (so variables carry over); (exit code, output) of each."""
    marker = "__doctest_step__"
    lines = ["set +e"]
    for command in script:
        # the marker keeps the command's status for the next `echo $?`, as a terminal would
        lines += [f"{command} 2>&1", "__rc=$?", f'echo "{marker} $__rc"', "(exit $__rc)"]
    done = subprocess.run(
        ["bash", "-c", "\n".join(lines)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    results: list[tuple[int, str]] = []
    current: list[str] = []
    for ln in done.stdout.splitlines():
        if ln.startswith(marker):
            results.append((int(ln.split()[1]), "\n".join(current)))
            current = []
        else:
            current.append(ln)
    assert len(results) == len(script), done.stderr[-2000:]
    return results


def _bare_env(bin_dir: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELWARD_", "MLFLOW_"))}
    return env | {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home), "COLUMNS": "200"}


@pytest.mark.slow
@pytest.mark.timeout(2400)  # two whole quickstarts, and each README command in a new process
def test_readme_runs_after_the_quickstart(tmp_path: Path) -> None:
    """`make quickstart`, then the README's blocks marked run-after-quickstart, as typed,
    from the same folder: `. .venv/bin/activate`, `cd .quickstart`, the commands."""
    project = tmp_path / "checkout"
    project.mkdir()
    (project / ".venv").symlink_to(Path(sys.prefix))
    exe = Path(sys.executable).with_name("modelward")
    env = _bare_env(exe.parent, tmp_path)
    made = subprocess.run(
        [str(exe), "quickstart", "--dir", ".quickstart", "--rows", "5000"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,  # about a minute on an idle machine; far more on a loaded one
    )
    assert made.returncode == 0, made.stderr[-3000:]
    out = made.stdout
    assert "customers@1 created" in out and "refused" in out
    assert "promoted to Production" in out and "verdict: identical" in out
    # its own churn endpoint answered (the curl line is checked in test_quickstart_endpoint)
    assert "asked in-process: churn probability" in out and "(degraded)" not in out
    assert "curl -H" in out
    # the hints the quickstart prints run as printed, from where it was run (all but
    # `serve` and `server`, which run until stopped)
    hints = [
        ln.strip()
        for ln in made.stdout.splitlines()
        if ln.split()
        and ln.split()[0].endswith("modelward")  # a command, not a sentence
        and " -w .quickstart " in ln
        and not ln.strip().endswith((" serve", " server"))
    ]
    assert hints, made.stdout[-2000:]
    for code, out in run_shell(hints, project, env):
        assert code == 0, out
    shell = [b for b in blocks(REPO / "README.md") if b.mark == "run-after-quickstart"]
    assert [b.lang for b in shell] == ["sh", "python"]
    script = [ln for ln in shell[0].text.splitlines() if ln.strip()]
    for command, (code, out) in zip(script, run_shell(script, project, env), strict=True):
        assert code == 0, f"{command}\n{out}"
        assert "Traceback" not in out and "internal error" not in out, f"{command}\n{out}"
    example = project / "example.py"
    example.write_text(shell[1].text, encoding="utf-8")
    python = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), str(example)],
        cwd=project / ".quickstart",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert python.returncode == 0, python.stderr[-3000:]
    assert python.stdout.split()[1:] == ["activity"], python.stdout
    _the_quickstart_again_changes_nothing(project, exe, env, first_story=made.stdout)


def _the_quickstart_again_changes_nothing(
    project: Path, exe: Path, env: dict[str, str], *, first_story: str
) -> None:
    """Issue 16's first defect, on the README's own workspace (one quickstart fewer in CI):
    the first quickstart's champion entered Production through its gates with no override
    and a month of new data retrained; the whole quickstart again, after the README's
    commands, trains and registers nothing and says so truthfully."""
    assert "first model, no champion yet" in first_story
    assert first_story.count("(trained: train_baseline, train_challenger)") == 2, first_story
    assert "trained nothing" in first_story  # run 3: the same inputs, all from the cache
    # a month in production: the loop judged the monitor's trigger and waited for labels
    waited = "decision wait: label coverage 25% < 50% (labels take about 720 h); no run started"
    assert waited in first_story, first_story
    root = project / ".quickstart"
    session = Session(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "tester"}))
    with session:
        first = {v.ref: v.stage for v in list_versions(session, "churn")}
        champion = next(v for v in list_versions(session, "churn") if v.stage == "Production")
        assert champion.lineage_complete, champion.lineage_missing
        [promoted] = [t for t in history(session, champion.ref) if t["to_stage"] == "Production"]
        assert promoted["override_reason"] is None  # the gate passed on its own
    assert len(first) == 2
    again = subprocess.run(
        [str(exe), "quickstart", "--dir", ".quickstart", "--rows", "5000"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    story = again.stdout
    assert "unchanged: same content, same snapshot" in story
    assert "no champion yet" not in story and "(trained:" not in story, story
    assert f"the first month again, champion {champion.ref}" in story
    assert "registered nothing new" in story and "verdict: identical" in story
    assert waited in story and "(seen before: linked to its episode)" in story, story
    with session:
        assert {v.ref: v.stage for v in list_versions(session, "churn")} == first


@pytest.mark.slow
@pytest.mark.timeout(900)  # about 25 commands, each a new process
def test_the_promotion_example_prints_what_it_shows(tmp_path: Path) -> None:
    """docs/promotion-example.md, run: every `$` line of its transcript blocks, with the
    versions its Python step makes prepared by the test; each line of output it shows must
    be printed (`...` stands for anything)."""
    from modelward.config import init_workspace
    from modelward.session import open_session
    from tests.unit.registry.support import git_commit_all, make_snapshot, quick_version

    root = init_workspace(tmp_path / "ws", project="churn")
    exe = Path(sys.executable).with_name("modelward")
    env = _bare_env(exe.parent, tmp_path) | {"MODELWARD_IDENTITY__USER": "ops"}
    doc = [b for b in blocks(REPO / "docs" / "promotion-example.md") if b.mark == "transcript"]
    assert len(doc) >= 5
    steps = [s for b in doc for s in _transcript_steps(b)]

    def prepare() -> None:  # what section 2's Python does: Ana trains churn@1 and churn@2
        git_commit_all(root)
        environ = {"MODELWARD_IDENTITY__USER": "ana"}
        with open_session(root, environ=environ) as session:
            train = make_snapshot(session, "customers")
            quick_version(session, "churn", auc=0.81, train=train)
            quick_version(session, "churn", auc=0.811, train=train)

    # the versions first (authorship is by name), then every command in one shell, so the
    # tokens section 1 keeps in variables are there for the later sections
    prepare()
    results = run_shell([c for c, _ in steps], root, env)
    for (command, shown), (_, out) in zip(steps, results, strict=True):
        flat = _flat(out)
        for line in shown:
            if line.strip().startswith("#") or line.strip() == "...":
                continue
            assert _pattern(_flat(line)).search(flat), (
                f"$ {command}\n  shows: {line.strip()}\n  printed: {out.strip()[-1500:]}"
            )
