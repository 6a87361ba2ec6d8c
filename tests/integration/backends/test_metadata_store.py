"""The metadata store on SQLite and Postgres: migrations, transactions, clear failures."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select, text

import modelward.data.tables
import modelward.security.tables
from modelward.config import Workspace, init_workspace
from modelward.errors import StoreUnavailable
from modelward.security.tables import audit_log
from modelward.store import Store, metadata, open_store
from modelward.store.migrate import current_revisions, head_revisions
from tests import services

# every context's tables (each context's ``tables`` module, found on disk rather than
# listed, so a new context's tables are compared too)
_CONTEXT_TABLES = sorted(
    f"modelward.{p.parent.name}.tables"
    for p in Path(modelward.data.tables.__file__).parents[1].glob("*/tables.py")
)


def _import_all_tables() -> None:
    import importlib

    for module in _CONTEXT_TABLES:
        importlib.import_module(module)


def test_open_migrates_to_every_head(store: Store) -> None:
    with store.read() as conn:
        assert current_revisions(conn) == head_revisions()
        tables = set(inspect(conn).get_table_names())
    assert {"snapshots", "audit_log"} <= tables


def test_migrations_create_exactly_the_declared_tables(store: Store) -> None:
    """The Alembic scripts and the SQLAlchemy tables describe the same schema."""
    _import_all_tables()
    with store.read() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": False}), metadata
        )
    assert diff == []


def test_reopen_does_not_migrate_again(workspace: Workspace) -> None:
    open_store(workspace).close()
    store = open_store(workspace)
    with store.read() as conn:
        assert current_revisions(conn) == head_revisions()
    store.close()


def test_transaction_rolls_back_state_on_error(store: Store) -> None:
    from datetime import UTC, datetime

    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute(
            insert(audit_log).values(
                at=datetime.now(UTC),
                actor="a",
                action="x",
                target="t",
                payload={},
                prev_hash="0" * 64,
                hash="f" * 64,
            )
        )
        raise RuntimeError("crash between writes")
    with store.read() as conn:
        assert conn.execute(select(audit_log)).first() is None


def _open_in_process(root: str, env: dict[str, str], barrier: object) -> str:
    barrier.wait()  # type: ignore[attr-defined]
    ws = Workspace.open(root, environ=env)
    store = open_store(ws)
    with store.read() as conn:
        revs = sorted(current_revisions(conn))
    store.close()
    return ",".join(revs)


def test_concurrent_first_opens_migrate_once(
    workspace_dir: Path, workspace_env: dict[str, str]
) -> None:
    """Four processes opening a brand-new workspace at the same instant all succeed."""
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(4)
        with ctx.Pool(4) as pool:
            results = pool.starmap(
                _open_in_process, [(str(workspace_dir), workspace_env, barrier)] * 4
            )
    assert len(set(results)) == 1
    store = open_store(Workspace.open(workspace_dir, environ=workspace_env))
    with store.read() as conn:
        versions = conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one()
    store.close()
    assert versions == len(head_revisions())


def test_sqlite_runs_in_wal_mode_with_busy_timeout(sqlite_workspace: Workspace) -> None:
    store = open_store(sqlite_workspace)
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    store.close()


def test_unreachable_database_is_a_clear_error_without_password(tmp_path: Path) -> None:
    root = init_workspace(tmp_path)
    env = {
        # port 1 on loopback: nothing listens, so the connection is refused at once
        "MODELWARD_DATABASE_URL": "postgresql://mw@127.0.0.1:1/db",
        "MODELWARD_DATABASE_PASSWORD": "pa55-w0rd-secret",
    }
    with pytest.raises(StoreUnavailable) as info:
        open_store(Workspace.open(root, environ=env))
    message = str(info.value)
    assert "pa55-w0rd-secret" not in message
    assert "127.0.0.1" in message
    assert "***" in message


@pytest.mark.postgres
def test_password_from_secrets_is_sent_but_never_stored(tmp_path: Path) -> None:
    schema = services.create_schema()
    pg_url = next(schema)
    try:
        root = init_workspace(tmp_path)
        # the test server trusts local connections, so any password connects: what matters
        # is that the secret is used for the connection and appears nowhere we keep text
        env = {"MODELWARD_DATABASE_URL": pg_url, "MODELWARD_DATABASE_PASSWORD": "zz-secret-zz"}
        store = open_store(Workspace.open(root, environ=env))
        assert store.url.password == "zz-secret-zz"
        assert "zz-secret-zz" not in store.display_url
        assert "zz-secret-zz" not in (root / "modelward.toml").read_text()
        store.close()
    finally:
        schema.close()
