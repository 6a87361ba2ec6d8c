"""Alembic migrations, applied automatically and exactly once when a workspace opens.

Each context keeps its migrations on its own Alembic branch (``branch_labels`` =
the context name) that starts from the foundation revision ``0001``; "up to date" means
every branch head is applied.

Two processes opening a new workspace at once must not both migrate. The fast path reads
the current revision without a lock; only when an upgrade is due does a process take a
lock (a file lock beside a SQLite database, ``pg_advisory_xact_lock`` on Postgres), look
again, and upgrade inside one transaction, so a crash leaves the previous revision intact.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import Connection, Engine, text

from modelward.store.engine import SQLITE_BEGIN

__all__ = ["current_revisions", "head_revisions", "upgrade"]

_MIGRATIONS = Path(__file__).with_name("migrations")
# an arbitrary fixed key for the Postgres advisory lock guarding migrations
_PG_LOCK_KEY = 0x6D77_6D69  # "mwmi"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


@cache  # the migrations are files of this installed package: they cannot change under it
def head_revisions() -> frozenset[str]:
    """Every branch head: each context's migrations form a branch off the foundation.

    Reading them loads every migration script (about 5 ms each); every store that opens
    asks, so the answer is kept for the life of the process."""
    return frozenset(ScriptDirectory.from_config(_config()).get_heads())


def current_revisions(conn: Connection) -> frozenset[str]:
    return frozenset(MigrationContext.configure(conn).get_current_heads())


def _upgrade_in(conn: Connection) -> None:
    cfg = _config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "heads")


def upgrade(engine: Engine) -> bool:
    """Bring the database to the head revision. Returns whether anything was applied."""
    head = head_revisions()
    with engine.connect() as conn:
        if current_revisions(conn) == head:
            return False
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            if current_revisions(conn) == head:
                return False
            _upgrade_in(conn)
            return True
    database = engine.url.database
    # a file lock beside the database serialises processes; in-memory needs none
    lock = FileLock(f"{database}.migrate.lock") if database and database != ":memory:" else None
    if lock is not None:
        lock.acquire()
    try:
        with engine.connect().execution_options(**{SQLITE_BEGIN: "IMMEDIATE"}) as conn:
            with conn.begin():
                if current_revisions(conn) == head:
                    return False
                _upgrade_in(conn)
            return True
    finally:
        if lock is not None:
            lock.release()
