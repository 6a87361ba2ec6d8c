"""Validation rules checked on each materialization batch before any of it is written."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import duckdb

from modelward.data import quote_ident, quote_literal
from modelward.features.definitions import FeatureView, Rule

__all__ = ["Violation", "check_rules"]


@dataclass(frozen=True)
class Violation:
    rule: str
    column: str
    #: rows breaking the rule (for max_null_rate: the null rows)
    rows: int
    #: entity keys of up to five offending rows
    examples: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return quote_literal(str(value))


def _bad_rows(rule: Rule) -> str:
    col = quote_ident(rule.column)
    if rule.kind in ("not_null", "max_null_rate"):
        return f"{col} IS NULL"
    if rule.kind == "between":
        conds = []
        if rule.min is not None:
            conds.append(f"{col} < {_literal(rule.min)}")
        if rule.max is not None:
            conds.append(f"{col} > {_literal(rule.max)}")
        return " OR ".join(conds) or "FALSE"
    return f"{col} IS NOT NULL AND {col} NOT IN ({', '.join(_literal(v) for v in rule.values)})"


def check_rules(
    con: duckdb.DuckDBPyConnection, relation: str, view: FeatureView, total: int
) -> list[Violation]:
    """Every rule of ``view`` broken by the rows of ``relation``, with examples."""
    found: list[Violation] = []
    keys = ", ".join(quote_ident(k) for k in view.join_keys)
    for rule in view.rules:
        where = _bad_rows(rule)
        bad = int(con.execute(f"SELECT count(*) FROM {relation} WHERE {where}").fetchall()[0][0])
        if rule.kind == "max_null_rate":
            rate = bad / total if total else 0.0
            if rate <= (rule.rate or 0.0):
                continue
        elif bad == 0:
            continue
        cols = [k for k in view.join_keys]
        sample = con.execute(
            f"SELECT {keys} FROM {relation} WHERE {where} ORDER BY {keys} LIMIT 5"
        ).fetchall()
        found.append(
            Violation(
                rule.label, rule.column, bad, [dict(zip(cols, row, strict=True)) for row in sample]
            )
        )
    return found
