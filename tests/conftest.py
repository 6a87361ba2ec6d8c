"""Shared fixtures: a workspace, and a metadata store on every backend.

``store_url`` is parametrised over SQLite and Postgres: any test that takes it (or
``workspace``/``store``) runs once per backend. Each Postgres test gets its own schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import Phase, settings

from modelward.config import Workspace, init_workspace
from modelward.store import Store, open_store
from tests import services

#: the S3 server fixtures (moto, in process): s3_endpoint, s3_log_config
pytest_plugins = ["tests.s3"]

# tools/mutation.py runs with --hypothesis-profile=mutation: a mutant is killed once a
# property fails, and shrinking the failing example to its smallest form took minutes a
# mutant; the failing examples are not kept either (each mutant starts clean)
settings.register_profile(
    "mutation",
    phases=[p for p in Phase if p not in (Phase.shrink, Phase.explain)],
    database=None,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """ "" for the embedded SQLite file, or a Postgres URL with a fresh schema."""
    if request.param == "sqlite":
        yield ""
    else:
        yield from services.create_schema()


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Path:
    return init_workspace(tmp_path / "ws", project="test")


@pytest.fixture
def workspace_env(store_url: str) -> dict[str, str]:
    """Environment for a workspace on the parametrised backend (no ambient MODELWARD_*)."""
    env = {"MODELWARD_IDENTITY__USER": "tester"}
    if store_url:
        env["MODELWARD_DATABASE_URL"] = store_url
    return env


@pytest.fixture
def workspace(workspace_dir: Path, workspace_env: dict[str, str]) -> Workspace:
    return Workspace.open(workspace_dir, environ=workspace_env)


@pytest.fixture
def store(workspace: Workspace) -> Iterator[Store]:
    st = open_store(workspace)
    yield st
    st.close()


@pytest.fixture
def cli_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A new workspace on the embedded default that `modelward` commands run in this process
    find, as a user's shell would after `modelward init`: MODELWARD_WORKSPACE points at it,
    the user is ``cli-user``, and no database URL or token from the environment leaks in."""
    root = init_workspace(tmp_path / "ws")
    for key in ("MODELWARD_DATABASE_URL", "MODELWARD_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MODELWARD_WORKSPACE", str(root))
    monkeypatch.setenv("MODELWARD_IDENTITY__USER", "cli-user")
    return root


@pytest.fixture
def sqlite_workspace(workspace_dir: Path) -> Workspace:
    """A workspace on the embedded default only, for tests about files rather than the store."""
    return Workspace.open(workspace_dir, environ={"MODELWARD_IDENTITY__USER": "tester"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests marked ``slow`` (a quickstart, a server under load: minutes each) run first.

    pytest-xdist hands the first tests out to the workers one or two at a time, so the long
    ones start early on different workers and the short ones fill in around them, instead
    of the run ending with one worker busy on a long test and the others idle.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
