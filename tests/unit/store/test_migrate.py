"""Migrations: applied once when a database is new, a no-op when it is at the heads, and two
processes racing to migrate a new database apply them exactly once (SQLite and Postgres)."""

from __future__ import annotations

import threading

from sqlalchemy import inspect

from modelward.config import Workspace
from modelward.store import open_store
from modelward.store.engine import build_engine
from modelward.store.migrate import current_revisions, head_revisions, upgrade


def test_every_context_branch_has_a_head() -> None:
    heads = head_revisions()
    assert len(heads) >= 8  # one branch per context off the foundation
    assert heads == head_revisions()  # read once, then kept


def test_a_new_database_is_brought_to_the_heads_once(workspace: Workspace) -> None:
    engine = build_engine(workspace)
    try:
        assert upgrade(engine) is True
        with engine.connect() as conn:
            assert current_revisions(conn) == head_revisions()
            assert {"audit_log", "model_versions"} <= set(inspect(conn).get_table_names())
        assert upgrade(engine) is False
    finally:
        engine.dispose()


def test_racing_openers_apply_the_migrations_exactly_once(workspace: Workspace) -> None:
    results: list[bool] = []
    engines = [build_engine(workspace) for _ in range(3)]
    start = threading.Barrier(len(engines))

    def migrate(index: int) -> None:
        start.wait(10)
        results.append(upgrade(engines[index]))

    threads = [threading.Thread(target=migrate, args=(i,)) for i in range(len(engines))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for engine in engines:
        engine.dispose()
    assert sorted(results) == [False, False, True]


def test_opening_a_store_migrates_and_a_second_open_finds_it_current(
    sqlite_workspace: Workspace,
) -> None:
    first = open_store(sqlite_workspace)
    first.close()
    second = open_store(sqlite_workspace)
    try:
        with second.read() as conn:
            assert current_revisions(conn) == head_revisions()
        assert upgrade(second.engine) is False
    finally:
        second.close()
