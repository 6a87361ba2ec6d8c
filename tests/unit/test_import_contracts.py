"""The import contracts of `make lint` (`.importlinter`) hold, and fail on a violation.

Each test copies the package to a temporary folder, plants one violation of one rule of
docs/architecture.md, and runs the same checker `make lint` runs over the copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="import-linter is not installed (the dev extra has it)"
)


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(root / ".importlinter")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    shutil.copytree(
        REPO / "src" / "modelward",
        root / "src" / "modelward",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(REPO / ".importlinter", root / ".importlinter")
    return root


@pytest.fixture
def tree(pristine: Path, tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(pristine, root)
    return root


def _append(root: Path, module: str, code: str) -> None:
    path = root / "src" / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    path.write_text(path.read_text() + "\n\n" + code + "\n")


def _broken(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    return result.stdout


def test_the_tree_as_committed_keeps_every_contract(pristine: Path) -> None:
    result = _check(pristine)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_private_module_of_another_context_may_not_be_imported(tree: Path) -> None:
    _append(
        tree,
        "modelward.pipelines.engine",
        "def _planted():\n    from modelward.registry.versions import get_version\n\n"
        "    return get_version",
    )
    out = _broken(_check(tree))
    assert "Other contexts import registry only through modelward.registry BROKEN" in out
    assert "modelward.pipelines.engine -> modelward.registry.versions" in out


def test_a_lower_layer_may_not_import_a_higher_one(tree: Path) -> None:
    _append(tree, "modelward.data.hashing", "from modelward.registry import get_version")
    out = _broken(_check(tree))
    assert "Contexts depend downwards only" in out
    assert "modelward.data is not allowed to import modelward.registry" in out


def test_an_import_cycle_inside_a_context_is_refused(tree: Path) -> None:
    # packing is below definitions (definitions reads the codec version from it)
    _append(tree, "modelward.features.packing", "from modelward.features import definitions")
    out = _broken(_check(tree))
    assert "No import cycles between modules, at any depth BROKEN" in out
    assert "modelward.features" in out


def test_serving_may_not_import_a_training_library(tree: Path) -> None:
    _append(tree, "modelward.serving.gateway", "import sklearn")
    out = _broken(_check(tree))
    assert "Serving imports no pipelines, web, CLI, REST API or training library BROKEN" in out


def test_a_backend_is_imported_only_by_its_factory(tree: Path) -> None:
    _append(tree, "modelward.features.lookup", "from modelward.features.online import redis")
    out = _broken(_check(tree))
    assert "A backend module is imported only by its port's factory BROKEN" in out
