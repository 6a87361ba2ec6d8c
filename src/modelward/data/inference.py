"""Infer a starting contract from data: what the data is today, for a person to tighten.

The inferred contract is exact about the data it was read from, so validating that same
data against it passes every rule. It guesses no policy: no freshness limit, no
``max_null_fraction``, no regex, no PII marks; those are for the reviewer to add.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from modelward.config import DataSettings
from modelward.data.contracts import COLUMN_TYPES, ColumnSpec, Contract, RowCountRule, TableRules
from modelward.data.engine import quote_ident
from modelward.data.sources import Source
from modelward.data.validation import open_relation, read_error, type_family

__all__ = ["MAX_ALLOWED_VALUES", "infer_contract"]

#: a string column with at most this many distinct values gets ``allowed_values``
MAX_ALLOWED_VALUES = 20

# types a key is stored as; a timestamp or an amount that happens to be unique in today's
# data is not a promise worth a failing check tomorrow
_KEYS = {"integer", "string", "binary"}
_BOUNDED = {"integer", "float", "decimal", "timestamp", "timestamp_ntz", "date", "time"}
_TEMPORAL_PARSE = {
    "timestamp": datetime.fromisoformat,
    "timestamp_ntz": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
}


def _bound(value: Any, family: str) -> int | float | str | None:
    """An observed min/max as a contract bound, or None when it cannot be one exactly."""
    if value is None:
        return None
    if family == "integer":
        return int(value)
    if family == "float":
        return float(value) if math.isfinite(value) else None
    if family == "decimal":
        return str(value) if isinstance(value, Decimal) and value.is_finite() else None
    # temporal values arrive as DuckDB's text, which keeps nanoseconds a Python
    # datetime would drop (a truncated max would then fail its own data); made ISO 8601
    text = str(value)
    if family in ("timestamp", "timestamp_ntz"):
        text = text.replace(" ", "T", 1)
    if family != "date" and re.search(r"[+-]\d\d$", text):
        text += ":00"  # "+00" -> "+00:00"
    try:
        _TEMPORAL_PARSE[family](text)
    except ValueError:
        return None  # e.g. a year outside 1..9999: leave the bound to the reviewer
    return text


def infer_contract(
    source: Source | str | Path, *, name: str | None = None, settings: DataSettings | None = None
) -> Contract:
    """A contract describing ``source`` as it is now (types, nulls, ranges, sets, keys).

    >>> contract = infer_contract("orders.parquet")
    >>> Path("orders.yaml").write_text(contract.to_yaml())
    """
    src, con, schema = open_relation(source, settings)
    try:
        exprs: list[str] = ["count(*)"]
        slots: dict[str, dict[str, int]] = {}
        for column, data_type in schema.items():
            family = type_family(data_type)
            col = quote_ident(column)
            slot = slots[column] = {"non_null": len(exprs)}
            exprs.append(f"count({col})")
            if family in _BOUNDED:
                cast = "" if family in ("integer", "float", "decimal") else "::VARCHAR"
                slot["min"], slot["max"] = len(exprs), len(exprs) + 1
                exprs += [f"min({col}){cast}", f"max({col}){cast}"]
            if family in _KEYS:
                slot["distinct"] = len(exprs)
                exprs.append(f"count(DISTINCT {col})")
        try:
            row = con.execute(f"SELECT {', '.join(exprs)} FROM {src.from_clause()}").fetchone()
            assert row is not None  # an aggregate without GROUP BY always yields one row
            n = int(row[0])
            small = [
                c
                for c, s in slots.items()
                if type_family(schema[c]) == "string"
                and 0 < row[s["distinct"]] <= MAX_ALLOWED_VALUES
                and row[s["distinct"]] < row[s["non_null"]]
            ]
            sets: dict[str, list[Any]] = {}
            if small:
                lists = ", ".join(f"list(DISTINCT {quote_ident(c)})" for c in small)
                found = con.execute(f"SELECT {lists} FROM {src.from_clause()}").fetchone()
                assert found is not None
                sets = {
                    c: sorted(v for v in vals if v is not None)
                    for c, vals in zip(small, found, strict=True)
                }
        except duckdb.Error as exc:
            raise read_error(src, exc) from None
    finally:
        con.close()

    columns: dict[str, ColumnSpec] = {}
    for column, data_type in schema.items():
        family, slot = type_family(data_type), slots[column]
        non_null = int(row[slot["non_null"]])
        rules: dict[str, Any] = {}
        if family in COLUMN_TYPES:
            rules["type"] = family
        else:
            rules["description"] = f"DuckDB type {data_type}: no contract type checks it"
        if n > 0 and non_null == n:
            rules["nullable"] = False
        if "min" in slot:
            for side in ("min", "max"):
                bound = _bound(row[slot[side]], family)
                if bound is not None:
                    rules[side] = bound
        if "distinct" in slot and non_null >= 2 and row[slot["distinct"]] == non_null:
            rules["unique"] = True
        if column in sets:
            rules["allowed_values"] = sets[column]
        columns[column] = ColumnSpec(**rules)
    label = src.path.stem if src.path is not None else "query"
    return Contract(
        name=name or label,
        description=f"Inferred from {src.label} ({n:,} rows); review before relying on it.",
        columns=columns,
        table=TableRules(row_count=RowCountRule(min=1) if n > 0 else None),
    )
