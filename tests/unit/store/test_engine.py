"""The metadata database's URL and engine: SQLite by default inside the workspace, Postgres
with the password from secrets only, and no password ever in a message."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from modelward.config import Workspace, init_workspace
from modelward.errors import ConfigError
from modelward.store.engine import build_engine, redact, resolve_url, scrub


def _open(tmp_path: Path, **env: str) -> Workspace:
    return Workspace.open(init_workspace(tmp_path / "ws"), environ=env)


def test_the_default_is_a_sqlite_file_in_the_workspace_home(tmp_path: Path) -> None:
    ws = _open(tmp_path)
    url = resolve_url(ws)
    assert url.get_backend_name() == "sqlite"
    assert url.database == str(ws.home / "metadata.db")


def test_a_relative_sqlite_path_is_read_from_the_workspace_root(tmp_path: Path) -> None:
    ws = _open(tmp_path, MODELWARD_DATABASE_URL="sqlite:///data/meta.db")
    assert resolve_url(ws).database == str(ws.root / "data" / "meta.db")


def test_postgres_uses_psycopg_and_takes_the_password_from_secrets(tmp_path: Path) -> None:
    ws = _open(
        tmp_path,
        MODELWARD_DATABASE_URL="postgresql://ops@db.internal:5432/meta",
        MODELWARD_DATABASE_PASSWORD="s3cret",
    )
    url = resolve_url(ws)
    assert url.drivername == "postgresql+psycopg"
    assert url.password == "s3cret"
    assert "s3cret" not in redact(url)
    assert redact(url) == "postgresql+psycopg://ops:***@db.internal:5432/meta"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("not a url", "store.url is not a valid database URL"),
        ("mysql://u@h/db", "backend 'mysql' is not supported; use sqlite or postgresql"),
    ],
)
def test_a_bad_url_names_the_setting(tmp_path: Path, raw: str, says: str) -> None:
    ws = _open(tmp_path, MODELWARD_DATABASE_URL=raw)
    with pytest.raises(ConfigError, match=says) as info:
        resolve_url(ws)
    assert info.value.details["field"] == "store.url"


def test_a_password_given_as_a_query_parameter_is_masked_too() -> None:
    url = make_url("postgresql+psycopg://ops@db/meta?sslmode=require&password=s3cret")
    shown = redact(url)
    assert "s3cret" not in shown and "password=***" in shown and "sslmode=require" in shown


def test_a_driver_message_loses_every_password_and_keeps_to_one_line() -> None:
    url = make_url("postgresql+psycopg://ops:hunter22@db/meta?sslpassword=keyphrase")
    message = (
        'connection to "db" failed: password authentication failed for "ops" (hunter22)\n'
        "DETAIL: dsn was host=db password=other sslpassword=keyphrase"
    )
    scrubbed = scrub(message, url)
    assert "hunter22" not in scrubbed and "\n" not in scrubbed
    assert scrubbed.endswith("(***)")
    assert scrub("DETAIL: password=other", url) == "DETAIL: password=***"


def test_a_sqlite_engine_is_in_wal_mode_with_foreign_keys_on(tmp_path: Path) -> None:
    ws = _open(tmp_path)
    engine = build_engine(ws)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            busy = conn.execute(text("PRAGMA busy_timeout")).scalar()
            assert busy == int(ws.settings.store.busy_timeout_s * 1000)
    finally:
        engine.dispose()
