"""Engines for the metadata database: SQLite (embedded default) and Postgres (psycopg 3).

SQLite runs in WAL mode with a busy timeout, and write transactions start with
``BEGIN IMMEDIATE`` so that a read-then-write never fails with SQLITE_BUSY half-way
(a deferred transaction cannot wait for the write lock once it has read).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from modelward.config import Workspace
from modelward.errors import ConfigError

__all__ = ["SECRET_QUERY_KEYS", "build_engine", "redact", "resolve_url", "scrub"]

#: execution option naming how a SQLite transaction begins
SQLITE_BEGIN = "modelward_sqlite_begin"


def resolve_url(workspace: Workspace) -> URL:
    """The database URL from config, with the password from secrets applied."""
    raw = workspace.settings.store.url
    if not raw:
        return URL.create("sqlite", database=str(workspace.home / "metadata.db"))
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(
            "store.url is not a valid database URL (expected e.g. "
            "postgresql+psycopg://user@host:5432/db or sqlite:///path.db)",
            field="store.url",
        ) from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"store.url: backend {url.get_backend_name()!r} is not supported; "
            "use sqlite or postgresql",
            field="store.url",
        )
    secret = workspace.secrets.database_password
    if secret is not None and url.get_backend_name() == "postgresql":
        url = url.set(password=secret.get_secret_value())
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        db = Path(url.database)
        if not db.is_absolute():
            url = url.set(database=str(workspace.root / db))
    return url


#: query parameters of a database URL that carry a secret (libpq and psycopg accept a
#: password as ``?password=`` as well as in the URL's user part)
SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pwd", "sslpassword"})


def _secret_values(url: URL) -> list[str]:
    found = [str(url.password)] if url.password else []
    for key, value in url.query.items():
        if key.lower() in SECRET_QUERY_KEYS:
            found.extend([value] if isinstance(value, str) else list(value))
    return [v for v in found if v]


def redact(url: URL) -> str:
    """The URL as text with its password masked, also one given as ``?password=``; the
    only form that may reach a message."""
    masked = {
        key: "***" for key in url.query if key.lower() in SECRET_QUERY_KEYS and url.query[key]
    }
    text = url.update_query_dict(masked).render_as_string(hide_password=True)
    return text.replace("%2A%2A%2A", "***")  # the mask, not URL-encoded


def scrub(text: str, url: URL) -> str:
    """Remove the password(s) of ``url`` from a driver message, and keep it to one line."""
    for secret in sorted(_secret_values(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = re.sub(r"(password|passwd|pwd|sslpassword)=\S+", r"\1=***", text, flags=re.I)
    return text.strip().splitlines()[0] if text.strip() else text


def build_engine(workspace: Workspace, url: URL | None = None) -> Engine:
    url = url or resolve_url(workspace)
    settings = workspace.settings.store
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": settings.busy_timeout_s, "check_same_thread": False},
            # one connection per checkout keeps WAL readers and the writer independent
            poolclass=NullPool,
        )
        _configure_sqlite(engine, settings.busy_timeout_s)
        return engine
    connect_args: dict[str, Any] = {"connect_timeout": settings.connect_timeout_s}
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event issue BEGIN, so we choose DEFERRED or IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
