"""Where data comes from: a Parquet file, a CSV file, or a DuckDB SQL query.

A :class:`Source` renders itself as a DuckDB ``FROM`` expression, so snapshotting,
validation and joins all read through the same engine, streaming, without pandas.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from modelward.config.settings import DataSettings
from modelward.errors import InputError

__all__ = ["Source", "SourceKind", "connect", "quote_ident", "quote_literal", "resolve_source"]

SourceKind = Literal["parquet", "csv", "sql"]

_PARQUET = {".parquet", ".pq", ".parq"}
_CSV = {".csv", ".tsv", ".txt"}
_SQL_START = re.compile(r"^\s*(select|with|from|values|\()", re.IGNORECASE)


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    #: an absolute file path, or the SQL text
    text: str

    @property
    def path(self) -> Path | None:
        return Path(self.text) if self.kind != "sql" else None

    @property
    def label(self) -> str:
        """How the source is named in messages and records."""
        return self.text if self.kind != "sql" else f"sql:{' '.join(self.text.split())}"

    def from_clause(self) -> str:
        if self.kind == "parquet":
            return f"read_parquet({quote_literal(self.text)})"
        if self.kind == "csv":
            delim = "\t" if self.text.endswith(".tsv") else ","
            # The sniffer samples the whole file, so a column whose type changes deep in
            # the file is read as text (and reported by the contract), not failed midway.
            return (
                f"read_csv({quote_literal(self.text)}, header=true, delim={quote_literal(delim)},"
                " sample_size=-1)"
            )
        return f"({self.text})"


def resolve_source(source: str | Path) -> Source:
    """Recognise a source: an existing ``.parquet``/``.csv`` file, or SQL text."""
    if isinstance(source, str) and _SQL_START.match(source):
        return Source("sql", source.strip().rstrip(";"))
    path = Path(source).expanduser()
    suffix = path.suffix.lower()
    if suffix not in _PARQUET | _CSV:
        raise InputError(
            f"{source}: unsupported source; give a .parquet or .csv file, or a SQL query "
            "starting with SELECT/WITH/FROM",
            file=str(source),
        )
    if not path.exists():
        raise InputError(f"{path}: file not found", file=str(path))
    if not path.is_file():
        raise InputError(f"{path}: not a file", file=str(path))
    return Source("parquet" if suffix in _PARQUET else "csv", str(path.resolve()))


def connect(settings: DataSettings | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with modelward's memory and thread limits."""
    settings = settings or DataSettings()
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
