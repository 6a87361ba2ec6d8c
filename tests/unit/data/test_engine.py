"""The DuckDB connection every data read goes through: quoting that no name can break,
instants in UTC, and the workspace's limits applied."""

from __future__ import annotations

from modelward.config import DataSettings
from modelward.data.engine import connect, quote_ident, quote_literal


def test_literals_and_identifiers_survive_any_quote_they_hold() -> None:
    con = connect()
    name = 'we"ird col'
    text = "it's 'quoted'"
    con.execute(f"create table t as select {quote_literal(text)} as {quote_ident(name)}")
    assert con.execute(f"select {quote_ident(name)} from t").fetchall() == [(text,)]
    assert quote_literal("a'b") == "'a''b'"
    assert quote_ident('a"b') == '"a""b"'


def test_the_connection_uses_the_settings_limits_and_reads_instants_in_utc() -> None:
    con = connect(DataSettings(duckdb_memory_limit="512MB", duckdb_threads=1))
    assert con.execute("select current_setting('threads')").fetchone() == (1,)
    limit = con.execute("select current_setting('memory_limit')").fetchone()
    assert limit is not None and str(limit[0]).startswith(("488", "512"))
    assert con.execute("select current_setting('TimeZone')").fetchone() == ("UTC",)
    hour = con.execute(
        "select extract(hour from timestamptz '2026-06-10 05:00:00+02:00')"
    ).fetchone()
    assert hour == (3,)


def test_no_extension_is_downloaded_and_no_progress_bar_is_drawn() -> None:
    con = connect()
    assert con.execute("select current_setting('autoinstall_known_extensions')").fetchone() == (
        False,
    )
    assert con.execute("select current_setting('enable_progress_bar')").fetchone() == (False,)
