"""Validate data against a contract in one pass with DuckDB, and report every rule.

1. ``exists`` and ``type`` rules are answered from the source's schema (no data read);
   value rules that need the declared type are skipped when the type is wrong.
2. Every other rule becomes one or two aggregate expressions (null counts, min/max,
   counts of rows past a bound, outside a set or not matching a regex, ``count(x) -
   count(DISTINCT x)`` for exact uniqueness, the newest timestamp for freshness), all run
   as ONE ``SELECT ... FROM source``: DuckDB scans each needed column once.
3. Only for failed row-level rules, a ``... WHERE <violation> LIMIT k`` query per rule
   fetches a few offending rows with all their columns.

A contract that cannot apply (a bound that is not a value of the column's type, a regex
DuckDB cannot compile, freshness on a timestamp without time zone and no
``assume_timezone``) is a :class:`~modelward.errors.ContractError`; a file DuckDB cannot
read is an :class:`~modelward.errors.InputError`. Data that breaks a rule is never
raised: it is a failed :class:`RuleResult` in the :class:`ValidationReport`.
"""

from __future__ import annotations

import difflib
import math
import time as clock
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb

from modelward.config import DataSettings
from modelward.data.contracts import ColumnSpec, Contract, FreshnessRule, format_duration, zone_of
from modelward.data.engine import connect, quote_ident, quote_literal
from modelward.data.sources import Source, resolve_source
from modelward.durations import show_duration
from modelward.errors import ContractError, InputError

__all__ = ["RuleResult", "ValidationReport", "jsonable", "open_relation", "read_error",
           "type_family", "validate"]  # fmt: skip

# fmt: off
_INTEGER = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
            "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
_FAMILIES = {
    **dict.fromkeys(_INTEGER, "integer"), "FLOAT": "float", "DOUBLE": "float",
    "VARCHAR": "string", "BOOLEAN": "boolean", "BLOB": "binary", "DATE": "date",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    **dict.fromkeys(["TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"], "timestamp_ntz"),
    **dict.fromkeys(["TIME", "TIME_NS", "TIME WITH TIME ZONE"], "time"),
}
# fmt: on
# rules whose evaluation compares values, so they need the declared type to hold
_TYPED_RULES = ("min", "max", "allowed_values", "regex")


def type_family(duckdb_type: str) -> str:
    """The contract type of a DuckDB column type; other types come back lower-cased."""
    upper = duckdb_type.upper()
    if upper.startswith("DECIMAL"):
        return "decimal"
    if upper.startswith("ENUM"):
        return "string"
    return _FAMILIES.get(upper, duckdb_type.lower())


# --- the report ------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """``value`` made JSON-serialisable: ISO strings for times, numbers for decimals."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return "0x" + raw[:64].hex() + ("..." if len(raw) > 64 else "")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return str(value)


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule, e.g. ``columns.age.max`` or ``table.row_count``."""

    rule: str
    column: str | None
    passed: bool
    observed: Any
    threshold: Any
    message: str
    #: a few offending rows (all columns), only for failed row-level rules
    examples: list[dict[str, Any]] = field(default_factory=list)
    #: how many rows break a row-level rule (None for schema and table rules)
    violations: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(asdict(self))
        return data


@dataclass(frozen=True)
class ValidationReport:
    source: str
    contract: str
    contract_hash: str
    as_of: datetime
    row_count: int
    results: list[RuleResult]
    elapsed_s: float

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.results if not r.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "contract": self.contract,
            "contract_hash": self.contract_hash,
            "as_of": self.as_of.isoformat(),
            "row_count": self.row_count,
            "passed": self.passed,
            "rules": len(self.results),
            "failed": len(self.failures),
            "elapsed_s": round(self.elapsed_s, 4),
            "results": [r.to_dict() for r in self.results],
        }


# --- reading the source ----------------------------------------------------------------


def read_error(source: Source, exc: duckdb.Error) -> InputError:
    """A DuckDB failure while reading ``source`` as an error naming it, without a traceback."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, duckdb.OutOfMemoryException):
        return InputError(
            f"{source.label}: ran out of memory reading the data ({first}); raise "
            "data.duckdb_memory_limit in modelward.toml",
            source=source.label,
        )
    return InputError(f"{source.label}: cannot read the data: {first}", source=source.label)


def open_relation(
    source: Source | str | Path, settings: DataSettings | None
) -> tuple[Source, duckdb.DuckDBPyConnection, dict[str, str]]:
    """Resolve ``source``, open a connection, and read its schema (no data pass).

    The schema is kept as an empty temporary table ``__mw_schema``, so contract
    expressions can be bound and checked against it without reading any data.
    """
    src = source if isinstance(source, Source) else resolve_source(source)
    if src.path is not None:
        try:
            empty = src.path.stat().st_size == 0
        except OSError as exc:
            raise InputError(f"{src.label}: cannot read: {exc.strerror}", file=src.label) from None
        if empty:
            raise InputError(f"{src.label}: the file is empty (0 bytes)", file=src.label)
    con = connect(settings)
    try:
        con.execute("SET TimeZone = 'UTC'")
        # DuckDB draws a progress bar on stdout for long queries; it would corrupt --json
        con.execute("SET enable_progress_bar = false")
        con.execute(f"CREATE TEMP TABLE __mw_schema AS SELECT * FROM {src.from_clause()} LIMIT 0")
        rows = con.execute("DESCRIBE __mw_schema").fetchall()
    except duckdb.Error as exc:
        con.close()
        raise read_error(src, exc) from None
    return src, con, {str(r[0]): str(r[1]) for r in rows}


# --- planning: contract rules into aggregate expressions -------------------------------

Judge = Callable[[Sequence[Any], int], RuleResult]


@dataclass
class _Aggregates:
    """The aggregate expressions of the one query, deduplicated."""

    exprs: list[str] = field(default_factory=list)

    def add(self, expr: str) -> int:
        if expr not in self.exprs:
            self.exprs.append(expr)
        return self.exprs.index(expr)


@dataclass
class _Pending:
    rule: str
    column: str | None
    #: SQL that is true for an offending row, for fetching examples
    predicate: str | None
    judge: Judge
    #: the contract's values as SQL literals, checked before any data is read
    literals: tuple[str, ...] = ()


def _literal(value: Any, data_type: str) -> str:
    """A contract value as SQL, typed to compare exactly with the column."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"CAST({value!r} AS DOUBLE)"
    text = str(value)
    family = type_family(data_type)
    if family in ("integer", "float", "decimal"):
        # a decimal written as a string keeps every digit: cast to a decimal of its own scale
        try:
            exponent = Decimal(text).as_tuple().exponent
        except InvalidOperation:  # not a number: the cast fails in the contract check
            return f"CAST({quote_literal(text)} AS {data_type})"
        scale = max(0, -exponent) if isinstance(exponent, int) else 0
        if scale > 30:
            return f"CAST({quote_literal(text)} AS DOUBLE)"
        return f"CAST({quote_literal(text)} AS DECIMAL(38, {scale}))"
    if family == "string":
        return quote_literal(text)
    return f"CAST({quote_literal(text)} AS {data_type})"


def _show(value: Any) -> str:
    """A value as a message shows it: ``5``, ``'c3'``, ``2024-01-01T00:00:00+00:00``."""
    shown = jsonable(value)
    return repr(shown) if isinstance(value, str) else str(shown)


def _count(n: int, noun: str = "row") -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _plan_column(
    name: str, spec: ColumnSpec, data_type: str, aggs: _Aggregates, typed: bool
) -> list[_Pending]:
    col = quote_ident(name)
    base = f"columns.{name}"
    plan: list[_Pending] = []
    # count(col) only when a rule needs it: every aggregate costs time on every row
    needs_count = not spec.nullable or spec.max_null_fraction is not None or spec.unique
    non_null = aggs.add(f"count({col})") if needs_count else -1

    def nulls(v: Sequence[Any], n: int) -> int:
        return n - int(v[non_null])

    if not spec.nullable:
        plan.append(
            _count_rule(f"{base}.nullable", name, f"{col} IS NULL", 0, nulls, "null",
                        "but the contract says not nullable", "no nulls")
        )  # fmt: skip
    if spec.max_null_fraction is not None:
        plan.append(_fraction_rule(name, f"{col} IS NULL", spec.max_null_fraction, nulls))
    if typed:
        for side, op in (("min", "<"), ("max", ">")):
            bound = getattr(spec, side)
            if bound is not None:
                lit = _literal(bound, data_type)
                pred = f"{col} {op} {lit}"
                observed = aggs.add(f"{side}({col})")
                bad = aggs.add(f"count(*) FILTER (WHERE {pred})")
                judge = _judge_bound(name, f"{base}.{side}", side, bound, observed, bad)
                plan.append(_Pending(f"{base}.{side}", name, pred, judge, (lit,)))
        if (values := spec.allowed_values) is not None:
            lits = tuple(_literal(v, data_type) for v in values)
            # NULL NOT IN (...) is NULL, so nulls are neither counted nor shown
            pred = f"{col} NOT IN ({', '.join(lits)})"
            plan.append(
                _count_rule(f"{base}.allowed_values", name, pred, values, _at(aggs, pred), "row",
                            f"outside the {len(values)} allowed values", "every value allowed",
                            lits)
            )  # fmt: skip
        if (pattern := spec.regex) is not None:
            text = col if type_family(data_type) == "string" else f"CAST({col} AS VARCHAR)"
            pred = f"NOT regexp_full_match({text}, {quote_literal(pattern)})"
            compiles = f"regexp_full_match('', {quote_literal(pattern)})"
            plan.append(
                _count_rule(f"{base}.regex", name, pred, pattern, _at(aggs, pred), "row",
                            f"not fully matching /{pattern}/", f"every value matches /{pattern}/",
                            (compiles,))
            )  # fmt: skip
    if spec.unique:
        distinct = aggs.add(f"count(DISTINCT {col})")

        def dups(v: Sequence[Any], n: int) -> int:
            return int(v[non_null]) - int(v[distinct])

        plan.append(
            _count_rule(f"{base}.unique", name, None, 0, dups, "duplicate",
                        "(repeats of an earlier non-null value)", "every non-null value unique")
        )  # fmt: skip
    return plan


def _at(aggs: _Aggregates, predicate: str) -> Callable[[Sequence[Any], int], int]:
    """How many rows satisfy ``predicate``, as one more aggregate of the pass."""
    index = aggs.add(f"count(*) FILTER (WHERE {predicate})")
    return lambda v, n: int(v[index])


def _count_rule(
    rule: str,
    name: str,
    predicate: str | None,
    threshold: Any,
    count_of: Callable[[Sequence[Any], int], int],
    noun: str,
    failing: str,
    passing: str,
    literals: tuple[str, ...] = (),
) -> _Pending:
    """A rule that passes when no row breaks it; observed is the number of rows that do."""

    def judge(v: Sequence[Any], n: int) -> RuleResult:
        count = count_of(v, n)
        message = f"{_count(count, noun)} {failing}" if count else passing
        return RuleResult(
            rule, name, count == 0, count, threshold, f"column {name!r}: {message}",
            violations=count,
        )  # fmt: skip

    return _Pending(rule, name, predicate, judge, literals)


def _fraction_rule(
    name: str, predicate: str, limit: float, nulls: Callable[[Sequence[Any], int], int]
) -> _Pending:
    rule = f"columns.{name}.max_null_fraction"

    def judge(v: Sequence[Any], n: int) -> RuleResult:
        count = nulls(v, n)
        if n == 0:
            message = f"column {name!r}: no rows; passes vacuously"
            return RuleResult(rule, name, True, None, limit, message, violations=0)
        frac = count / n
        ok = frac <= limit
        return RuleResult(
            rule, name, ok, frac, limit,
            f"column {name!r}: {frac:.2%} null ({_count(count)} of {n:,}); "
            f"{'within' if ok else 'above'} the limit {limit:.2%}",
            violations=count,
        )  # fmt: skip

    return _Pending(rule, name, predicate, judge)


def _judge_bound(name: str, rule: str, side: str, bound: Any, obs: int, bad: int) -> Judge:
    word = "below" if side == "min" else "above"

    def judge(v: Sequence[Any], n: int) -> RuleResult:
        observed, count = v[obs], int(v[bad])
        if observed is None:
            return RuleResult(rule, name, True, None, bound,
                              f"column {name!r}: no non-null values; passes vacuously",
                              violations=0)  # fmt: skip
        seen, limit = _show(observed), _show(bound)
        message = (
            f"{_count(count)} {word} {limit} (observed {side} {seen})"
            if count
            else f"observed {side} {seen} within {limit}"
        )
        return RuleResult(rule, name, count == 0, observed, bound, f"column {name!r}: {message}",
                          violations=count)  # fmt: skip

    return judge


def _plan_freshness(
    rule: FreshnessRule, schema: dict[str, str], aggs: _Aggregates, as_of: datetime
) -> _Pending:
    name = rule.column
    limit = rule.max_age
    data_type = schema.get(name)
    family = type_family(data_type) if data_type else None

    def failed(message: str) -> Judge:
        return lambda v, n: RuleResult("table.freshness", name, False, None, limit, message)

    if data_type is None:
        return _Pending(
            "table.freshness", name, None, failed(f"freshness column {name!r} is not in the data")
        )
    if family in ("timestamp_ntz", "date") and rule.assume_timezone is None:
        what = "a date" if family == "date" else f"a timestamp without time zone ({data_type})"
        raise ContractError(
            f"table.freshness: column {name!r} is {what}, so its age is ambiguous; store "
            "tz-aware timestamps, or set freshness.assume_timezone (e.g. 'UTC') to say "
            "which zone its values are in",
            column=name,
            rule="table.freshness",
        )
    if family not in ("timestamp", "timestamp_ntz", "date"):
        reason = f"freshness column {name!r} is {data_type}, not a timestamp"
        return _Pending("table.freshness", name, None, failed(reason))
    newest_i = aggs.add(f"max({quote_ident(name)})")
    zone = zone_of(rule.assume_timezone) if rule.assume_timezone else UTC

    def judge(v: Sequence[Any], n: int) -> RuleResult:
        newest = v[newest_i]
        if newest is None:
            return failed(f"freshness column {name!r} has no values, so no fresh data")(v, n)
        if not isinstance(newest, datetime):  # a date: the start of that day
            newest = datetime.combine(newest, time())
        if newest.tzinfo is None:
            newest = newest.replace(tzinfo=zone)
        age = as_of - newest
        ok = age <= limit
        shown = show_duration(age) if age > timedelta(0) else "in the future"
        message = (
            f"newest {name!r} is {newest.isoformat()}, {shown} old at {as_of.isoformat()}; "
            f"limit {show_duration(limit)}"
        )
        return RuleResult("table.freshness", name, ok, age, limit, message)

    return _Pending("table.freshness", name, None, judge)


def _plan_row_count(contract: Contract) -> _Pending | None:
    rule = contract.table.row_count
    if rule is None:
        return None
    threshold = {k: v for k, v in (("min", rule.min), ("max", rule.max)) if v is not None}

    def judge(v: Sequence[Any], n: int) -> RuleResult:
        low = rule.min is not None and n < rule.min
        high = rule.max is not None and n > rule.max
        msg = f"{_count(n)}" + (
            f", fewer than {rule.min:,}" if low else f", more than {rule.max:,}" if high else ""
        )
        return RuleResult("table.row_count", None, not (low or high), n, threshold, msg)

    return _Pending("table.row_count", None, None, judge)


def _schema_results(
    name: str, spec: ColumnSpec, schema: dict[str, str]
) -> tuple[list[RuleResult], bool, bool]:
    """Results of exists/type, whether the column is present, and whether typed rules apply."""
    base = f"columns.{name}"
    data_type = schema.get(name)
    if data_type is None:
        near = difflib.get_close_matches(name, list(schema), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        message = f"column {name!r} is not in the data{hint}"
        return [RuleResult(f"{base}.exists", name, False, False, True, message)], False, False
    results = [RuleResult(f"{base}.exists", name, True, True, True, f"column {name!r} present")]
    if spec.type is None:
        return results, True, True
    family = type_family(data_type)
    ok = family == spec.type
    if ok:
        msg = f"column {name!r} is {spec.type} ({data_type})"
    elif spec.type == "timestamp" and family == "timestamp_ntz":
        msg = (
            f"column {name!r} holds timestamps without time zone ({data_type}); the contract "
            "says timestamp, an instant: store tz-aware times (e.g. UTC), or declare "
            "timestamp_ntz if wall-clock times are meant"
        )
    else:
        msg = f"column {name!r} is {family} ({data_type}), the contract says {spec.type}"
    skipped = [r for r in _TYPED_RULES if getattr(spec, r) is not None]
    if not ok and skipped:
        msg += f"; not checked: {', '.join(skipped)}"
    results.append(RuleResult(f"{base}.type", name, ok, family, spec.type, msg))
    return results, True, ok


def _check_binds(con: duckdb.DuckDBPyConnection, plan: list[_Pending], aggs: _Aggregates) -> None:
    """Evaluate the contract's literals and bind every expression against the empty schema
    table, so a rule that cannot apply is a contract error before any data is read."""
    literals = [lit for item in plan for lit in item.literals]
    try:
        if literals:
            con.execute(f"SELECT {', '.join(literals)}").fetchall()
        con.execute(f"SELECT count(*), {', '.join(aggs.exprs)} FROM __mw_schema").fetchall()
        return
    except duckdb.Error as exc:
        problem = str(exc).strip().splitlines()[0]
    # attribute the error to the rule that caused it
    for item in plan:
        try:
            if item.literals:
                con.execute(f"SELECT {', '.join(item.literals)}").fetchall()
            if item.predicate is not None:
                con.execute(f"SELECT count(*) FILTER (WHERE {item.predicate}) FROM __mw_schema")
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0]
            raise ContractError(
                f"{item.rule}: the rule cannot apply to column {item.column!r}: {first}",
                rule=item.rule,
                column=item.column,
            ) from None
    raise ContractError(f"the contract's rules cannot be evaluated on this data: {problem}")


# --- running ---------------------------------------------------------------------------


REDACTED = "<redacted>"


def _examples(
    con: duckdb.DuckDBPyConnection, src: Source, item: _Pending, k: int, pii: frozenset[str]
) -> list[dict[str, Any]]:
    """A few offending rows, with the contract's PII columns redacted: reports are stored
    with snapshots and printed, and neither may carry personal data."""
    table = src.from_clause()
    if item.predicate is not None:
        sql = f"SELECT * FROM {table} WHERE {item.predicate} LIMIT {k}"
    else:  # uniqueness: rows holding one of the first few repeated values
        col = quote_ident(str(item.column))
        sql = (
            f"SELECT * FROM {table} WHERE {col} IN (SELECT {col} FROM {table} "
            f"WHERE {col} IS NOT NULL GROUP BY {col} HAVING count(*) > 1 LIMIT {k}) "
            f"ORDER BY {col} LIMIT {k}"
        )
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [
        {
            n: (REDACTED if n in pii and v is not None else v)
            for n, v in zip(names, row, strict=True)
        }
        for row in cur.fetchall()
    ]


def validate(
    source: Source | str | Path,
    contract: Contract,
    *,
    as_of: datetime | None = None,
    settings: DataSettings | None = None,
    examples: int = 5,
) -> ValidationReport:
    """Check ``source`` against ``contract``; violations are in the report, not raised.

    >>> report = validate("orders.parquet", load_contract("orders.yaml"))
    >>> report.passed, [r.rule for r in report.failures]
    """
    started = clock.perf_counter()
    if as_of is None:
        as_of = datetime.now(UTC)
    elif as_of.tzinfo is None or as_of.utcoffset() is None:
        raise InputError(
            f"as_of {as_of.isoformat()} has no time zone; give an aware time (e.g. UTC)",
            field="as_of",
        )
    src, con, schema = open_relation(source, settings)
    pii = frozenset(contract.pii_columns)
    try:
        entries: list[RuleResult | _Pending] = []
        aggs = _Aggregates()
        for name, spec in contract.columns.items():
            schema_results, present, typed = _schema_results(name, spec, schema)
            entries.extend(schema_results)
            if present:
                entries.extend(_plan_column(name, spec, schema[name], aggs, typed))
        if (row_count := _plan_row_count(contract)) is not None:
            entries.append(row_count)
        if contract.table.freshness is not None:
            entries.append(_plan_freshness(contract.table.freshness, schema, aggs, as_of))
        plan = [e for e in entries if isinstance(e, _Pending)]
        if aggs.exprs:
            _check_binds(con, plan, aggs)

        # the one pass over the data
        select = ", ".join(["count(*)", *aggs.exprs])
        try:
            row = con.execute(f"SELECT {select} FROM {src.from_clause()}").fetchone()
        except duckdb.Error as exc:
            raise read_error(src, exc) from None
        if row is None:  # an aggregate without GROUP BY always yields one row
            raise InputError(f"{src.label}: the data could not be counted", source=src.label)
        n, values = int(row[0]), row[1:]

        results: list[RuleResult] = []
        for entry in entries:
            result = entry if isinstance(entry, RuleResult) else entry.judge(values, n)
            if (
                isinstance(entry, _Pending)
                and not result.passed
                and examples > 0
                and result.violations
            ):
                try:
                    found = _examples(con, src, entry, examples, pii)
                except duckdb.Error as exc:
                    raise read_error(src, exc) from None
                result = replace(result, examples=found)
            results.append(result)
    finally:
        con.close()
    return ValidationReport(
        source=src.label,
        contract=contract.name,
        contract_hash=contract.content_hash(),
        as_of=as_of,
        row_count=n,
        results=results,
        elapsed_s=clock.perf_counter() - started,
    )
