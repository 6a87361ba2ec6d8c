"""Where data comes from: a Parquet file, a CSV file, or a DuckDB SQL query.

A :class:`Source` renders itself as a DuckDB ``FROM`` expression, so snapshotting,
validation and joins all read through the same engine, streaming, without pandas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from modelward.data.engine import quote_literal
from modelward.errors import InputError

__all__ = ["Source", "SourceKind", "resolve_source"]

SourceKind = Literal["parquet", "csv", "sql"]

_PARQUET = {".parquet", ".pq", ".parq"}
_CSV = {".csv", ".tsv", ".txt"}
_SQL_START = re.compile(r"^\s*(select|with|from|values|\()", re.IGNORECASE)


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
