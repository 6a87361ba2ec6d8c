"""DuckDB, the engine every data read goes through: a configured connection and SQL quoting.

Snapshots, contract validation, the offline feature store and the examples all build SQL
text for DuckDB; they quote identifiers and literals with these two functions only.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from modelward.config import DataSettings

__all__ = ["connect", "quote_ident", "quote_literal"]


def quote_literal(text: str) -> str:
    """``text`` as a SQL string literal: ``it's`` -> ``'it''s'``."""
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """``name`` as a SQL identifier, safe whatever characters a column name holds."""
    return '"' + name.replace('"', '""') + '"'


def connect(settings: DataSettings | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with modelward's memory and thread limits."""
    if settings is None:
        from modelward.config import DataSettings

        settings = DataSettings()
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = {quote_literal(settings.duckdb_memory_limit)}")
    con.execute(f"SET threads = {int(settings.duckdb_threads)}")
    # instants come back in UTC whatever the machine says, so hashes do not depend on it
    con.execute("SET TimeZone = 'UTC'")
    # DuckDB draws a progress bar on stdout for long queries, which would corrupt --json
    con.execute("SET enable_progress_bar = false")
    # spill under the system temp folder, not a .tmp folder in whatever the cwd is
    spill = Path(tempfile.gettempdir()) / f"modelward-duckdb-{os.getuid()}"
    con.execute(f"SET temp_directory = {quote_literal(str(spill))}")
    # a data tool must not download extensions at run time
    con.execute("SET autoinstall_known_extensions = false")
    return con
