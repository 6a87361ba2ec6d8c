"""Data contracts: what a dataset promises about its columns and as a table.

A contract is written in YAML (or JSON, or built in Python) and parsed into the pydantic
models below. Every model forbids unknown keys, so a misspelt rule (``minimum`` for
``min``) is a :class:`~modelward.errors.ContractError` naming the column and the known
rules instead of a rule that silently never runs.

Example::

    name: customers
    columns:
      id: {type: integer, nullable: false, unique: true}
      email: {type: string, regex: '[^@]+@[^@]+', pii: true}
    table:
      row_count: {min: 1}
      freshness: {column: updated_at, max_age: 36h}
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from modelward.errors import ContractError

__all__ = [
    "COLUMN_TYPES",
    "ColumnSpec",
    "ColumnType",
    "Contract",
    "FreshnessRule",
    "RowCountRule",
    "TableRules",
    "format_duration",
    "load_contract",
    "parse_contract",
    "parse_duration",
    "zone_of",
]

ColumnType = Literal[
    "integer",
    "float",
    "decimal",
    "string",
    "boolean",
    "timestamp",
    "timestamp_ntz",
    "date",
    "time",
    "binary",
]
COLUMN_TYPES: tuple[str, ...] = get_args(ColumnType)

_NUMERIC = {"integer", "float", "decimal"}
_TEMPORAL = {"timestamp", "timestamp_ntz", "date", "time"}

Bound = int | float | str
Scalar = bool | int | float | str


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- durations -------------------------------------------------------------------------

_UNIT_US = {
    "w": 604_800_000_000,
    "d": 86_400_000_000,
    "h": 3_600_000_000,
    "m": 60_000_000,
    "s": 1_000_000,
}
_COMPACT = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
_ISO = re.compile(
    r"P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)


def parse_duration(text: str) -> timedelta:
    """Parse ``"36h"``, ``"2d"``, ``"1d12h30m"``, ``"15m"``, ``"90s"`` or ISO 8601 ``"P1DT12H"``.

    Years and months are refused: their length depends on the calendar.
    """
    raw = text.strip()
    parts: list[tuple[str, str]] = []
    if raw[:1].upper() == "P":
        match = _ISO.fullmatch(raw.upper())
        if match and raw.upper() not in ("P", "PT") and not raw.upper().endswith("T"):
            parts = [(v, k) for k, v in match.groupdict().items() if v is not None]
    elif raw and _COMPACT.sub("", raw) == "":
        parts = [(m.group(1), m.group(2)) for m in _COMPACT.finditer(raw)]
    if not parts:
        raise ValueError(
            f"{text!r} is not a duration; write e.g. '36h', '2d', '1d12h', '15m', '90s' "
            "or ISO 8601 'P1DT12H'"
        )
    micros = sum((Decimal(number) * _UNIT_US[unit] for number, unit in parts), Decimal(0))
    return timedelta(microseconds=int(micros.to_integral_value()))


def format_duration(value: timedelta) -> str:
    """The compact form :func:`parse_duration` reads back: ``1d12h``, ``15m``, ``0.5s``."""
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    if micros <= 0:
        return "0s"
    out = []
    # whole days read best as days; anything finer reads best in hours ("36h", not "1d12h")
    units = ("d",) if micros % _UNIT_US["d"] == 0 else ("h", "m")
    for unit in units:
        count, micros = divmod(micros, _UNIT_US[unit])
        if count:
            out.append(f"{count}{unit}")
    seconds, frac = divmod(micros, 1_000_000)
    if frac:
        out.append(f"{seconds}.{frac:06d}".rstrip("0") + "s")
    elif seconds:
        out.append(f"{seconds}s")
    return "".join(out)


# --- column rules ----------------------------------------------------------------------


def _bound(value: Any) -> Any:
    """Numbers stay numbers; dates and times (YAML parses them) become ISO strings."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ValueError("must be a number or an ISO date/time string, not a boolean")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    raise ValueError("must be a number or an ISO date/time string")


def _check_bound_for_type(name: str, value: Bound, declared: str) -> None:
    if declared in _NUMERIC:
        if isinstance(value, str):
            try:
                ok = declared == "decimal" and Decimal(value).is_finite()
            except InvalidOperation:
                ok = False
            if not ok:
                raise ValueError(f"{name} {value!r} must be a number for a {declared} column")
        return
    if declared in ("boolean", "binary"):
        raise ValueError(f"{name} does not apply to a {declared} column")
    if not isinstance(value, str):
        raise ValueError(f"{name} {value!r} must be a string for a {declared} column")
    parse = {
        "timestamp": datetime.fromisoformat,
        "timestamp_ntz": datetime.fromisoformat,
        "date": date.fromisoformat,
        "time": time.fromisoformat,
    }.get(declared)
    if parse is not None:
        try:
            parse(value)
        except ValueError:
            raise ValueError(
                f"{name} {value!r} is not an ISO 8601 value for a {declared} column"
            ) from None


def _comparable(value: Bound, numeric: bool) -> Any:
    if isinstance(value, str):
        if numeric:
            try:
                return Decimal(value)
            except InvalidOperation:
                return value
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


@functools.lru_cache(maxsize=256)
def _re2_error(pattern: str) -> str | None:
    """Why DuckDB's RE2 engine, which evaluates the rule, cannot compile ``pattern``.

    Python's ``re`` is the wrong judge: it refuses ``\\pL`` and accepts lookarounds,
    both the other way round in RE2.
    """
    con = duckdb.connect(":memory:")
    try:
        con.execute("SELECT regexp_full_match('', ?)", [pattern]).fetchall()
    except duckdb.Error as exc:
        return str(exc).strip().splitlines()[0].removeprefix("Invalid Input Error: ")
    finally:
        con.close()
    return None


class ColumnSpec(_Model):
    """The rules of one column. Every rule is optional; an empty spec means "must exist"."""

    type: ColumnType | None = None
    nullable: bool = True
    max_null_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    min: Bound | None = None
    max: Bound | None = None
    allowed_values: list[Scalar] | None = None
    #: a full-match regular expression (RE2 syntax, as DuckDB evaluates it)
    regex: str | None = None
    #: no non-null value appears twice (nulls are not duplicates), checked exactly
    unique: bool = False
    pii: bool = False
    description: str | None = None

    @field_validator("min", "max", mode="before")
    @classmethod
    def _normalise_bound(cls, value: Any) -> Any:
        return _bound(value)

    @field_validator("allowed_values", mode="before")
    @classmethod
    def _normalise_values(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        if not value:
            raise ValueError("must list at least one value")
        out = []
        for item in value:
            if isinstance(item, bool):
                out.append(item)
            elif isinstance(item, int | float | str | Decimal | date | time):
                out.append(_bound(item))
            else:
                raise ValueError(f"allowed value {item!r} must be a string, number or boolean")
        return out

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None and (problem := _re2_error(value)) is not None:
            raise ValueError(f"{value!r} is not a valid regular expression: {problem}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSpec:
        declared = self.type
        if declared is not None:
            for name in ("min", "max"):
                value = getattr(self, name)
                if value is not None:
                    _check_bound_for_type(name, value, declared)
            for value in self.allowed_values or []:
                if declared == "boolean":
                    if not isinstance(value, bool):
                        raise ValueError(f"allowed value {value!r} is not a boolean")
                elif isinstance(value, bool):
                    raise ValueError(
                        f"allowed value {value!r} is a boolean; the column is {declared}"
                    )
                else:
                    _check_bound_for_type("allowed value", value, declared)
            if self.regex is not None and declared != "string":
                raise ValueError(f"regex applies to string columns, not {declared}")
        if self.min is not None and self.max is not None:
            numeric = declared in _NUMERIC or not (
                isinstance(self.min, str) and isinstance(self.max, str)
            )
            low, high = _comparable(self.min, numeric), _comparable(self.max, numeric)
            try:
                inverted = bool(low > high)
            except TypeError:
                raise ValueError(
                    f"min {self.min!r} and max {self.max!r} are not of the same kind"
                ) from None
            if inverted:
                raise ValueError(f"min {self.min!r} is greater than max {self.max!r}")
        return self


# --- table rules -----------------------------------------------------------------------


class RowCountRule(_Model):
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> RowCountRule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class FreshnessRule(_Model):
    """The newest value of ``column`` is at most ``max_age`` older than the as-of time."""

    column: str
    max_age: timedelta
    #: how to read a column without time zone (``timestamp_ntz`` or ``date``), e.g. "UTC"
    assume_timezone: str | None = None

    @field_validator("max_age", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, timedelta):
            parsed = value
        elif isinstance(value, str):
            parsed = parse_duration(value)
        else:
            raise ValueError(f"{value!r} is not a duration; write e.g. '36h', '2d' or 'P1D'")
        if parsed <= timedelta(0):
            raise ValueError("must be longer than zero")
        return parsed

    @field_validator("assume_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zone_of(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"{value!r} is not a known time zone (e.g. 'UTC')") from None
        return value

    @field_serializer("max_age", when_used="json")
    def _dump_age(self, value: timedelta) -> str:
        return format_duration(value)


def zone_of(name: str) -> tzinfo:
    """The time zone called ``name``; UTC needs no time zone database (slim images lack one)."""
    return UTC if name.upper() in ("UTC", "Z", "ETC/UTC") else ZoneInfo(name)


class TableRules(_Model):
    row_count: RowCountRule | None = None
    freshness: FreshnessRule | None = None


class Contract(_Model):
    """A named, versioned data contract."""

    name: str = Field(min_length=1)
    version: int = Field(default=1, ge=1)
    description: str | None = None
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)
    table: TableRules = TableRules()

    @field_validator("columns", mode="before")
    @classmethod
    def _empty_specs(cls, value: Any) -> Any:
        # `age:` with nothing under it means "the column must exist"; `age: integer` is
        # shorthand for `age: {type: integer}`
        if isinstance(value, Mapping):
            return {
                k: {} if v is None else {"type": v} if isinstance(v, str) else v
                for k, v in value.items()
            }
        return value

    @field_validator("columns")
    @classmethod
    def _names(cls, value: dict[str, ColumnSpec]) -> dict[str, ColumnSpec]:
        if any(not name for name in value):
            raise ValueError("a column name is empty")
        return value

    @property
    def pii_columns(self) -> list[str]:
        return [name for name, spec in self.columns.items() if spec.pii]

    def to_dict(self) -> dict[str, Any]:
        """Every field that is set, JSON-ready (durations as ``"36h"``)."""
        return self.model_dump(mode="json", exclude_none=True)

    def content_hash(self) -> str:
        """``sha256:<hex>`` of the canonical JSON; column order and spelling do not matter."""
        canonical = json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    def to_yaml(self) -> str:
        """Readable YAML: rules left at their default are omitted."""
        data = self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        data = {"name": self.name, "version": self.version, **data}
        data["columns"] = {
            name: spec.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
            for name, spec in self.columns.items()
        }
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


# --- loading ---------------------------------------------------------------------------

_KNOWN = {
    "contract": list(Contract.model_fields),
    "column": list(ColumnSpec.model_fields),
    "table": list(TableRules.model_fields),
    "row_count": list(RowCountRule.model_fields),
    "freshness": list(FreshnessRule.model_fields),
}


def _where(loc: tuple[int | str, ...]) -> tuple[str, str]:
    """(human place, kind of keys known there) for a pydantic error location."""
    if len(loc) >= 2 and loc[0] == "columns":
        return f"column {loc[1]!r}", "column"
    if loc[:1] == ("table",) and len(loc) >= 2 and loc[1] in ("row_count", "freshness"):
        return f"table.{loc[1]}", str(loc[1])
    if loc[:1] == ("table",):
        return "table", "table"
    return "contract", "contract"


def _message(err: Mapping[str, Any]) -> tuple[tuple[int | str, ...], str]:
    loc: tuple[int | str, ...] = tuple(err["loc"])
    place, kind = _where(loc)
    if err["type"] == "extra_forbidden":
        noun = "rule" if kind in ("column", "table") else "key"
        known = ", ".join(_KNOWN[kind])
        return loc, f"{place}: unknown {noun} {loc[-1]!r} (known {noun}s: {known})"
    msg = str(err["msg"]).removeprefix("Value error, ")
    depth = 2 if kind in ("column", "row_count", "freshness") else 1
    field = ".".join(str(p) for p in loc[depth:])
    if kind == "contract":
        field = ".".join(str(p) for p in loc)
    return loc, f"{place}: {field}: {msg}" if field else f"{place}: {msg}"


def _refuse_aliases(root: yaml.Node | None, origin: str) -> None:
    """A mapping or list reused through a YAML alias (``*name``) is refused: nested
    aliases expand exponentially (the "billion laughs"), and a contract reads best with
    every rule written out where it applies."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            continue
        if id(node) in seen:
            raise ContractError(
                f"{origin}:{node.start_mark.line + 1}: YAML aliases (*name) of mappings or "
                "lists are not allowed in a contract; write the rules out",
                file=origin,
            )
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(value for _, value in node.value)
        else:
            stack.extend(node.value)


def _line_map(
    node: yaml.Node | None, origin: str, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], int]:
    """1-based line of each mapping key, by path, so errors can point into the file.

    A key given twice is refused: YAML loaders keep the last one silently, which would
    drop the first column's rules without a word.
    """
    lines: dict[tuple[str, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value))
            line = key.start_mark.line + 1
            if sub in lines:
                where = ".".join(sub)
                raise ContractError(
                    f"{origin}:{line}: {where!r} is given twice (first on line {lines[sub]})",
                    file=origin,
                    line=line,
                )
            lines[sub] = line
            lines.update(_line_map(value, origin, sub))
    return lines


def parse_contract(
    data: Mapping[str, Any], origin: str, *, lines: Mapping[tuple[str, ...], int] | None = None
) -> Contract:
    """Validate a mapping into a :class:`Contract`; errors name ``origin`` and the rule."""
    if not isinstance(data, Mapping):
        raise ContractError(
            f"{origin}: a contract must be a mapping with name and columns, "
            f"not {type(data).__name__}",
            file=origin,
        )
    try:
        return Contract.model_validate(dict(data))
    except ValidationError as exc:
        messages = []
        for err in exc.errors():
            loc, text = _message(err)
            line = None
            if lines:
                for cut in range(len(loc), 0, -1):
                    line = lines.get(tuple(str(p) for p in loc[:cut]))
                    if line is not None:
                        break
            messages.append(f"{origin}:{line}: {text}" if line else f"{origin}: {text}")
        raise ContractError("; ".join(messages), file=origin, errors=len(messages)) from None


def load_contract(path: str | Path) -> Contract:
    """Read a contract from a ``.yaml``/``.yml`` or ``.json`` file."""
    file = Path(path)
    origin = str(file)
    if file.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise ContractError(f"{origin}: a contract is a .yaml, .yml or .json file", file=origin)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContractError(f"{origin}: contract file not found", file=origin) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"{origin}: cannot read the contract: {exc}", file=origin) from None
    if not text.strip():
        raise ContractError(f"{origin}: the contract file is empty", file=origin)
    try:
        # JSON is YAML, so one parser serves both and keeps line numbers for errors
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        _refuse_aliases(node, origin)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or str(exc)
        raise ContractError(
            f"{origin}{line}: not valid YAML: {problem}", file=origin, line=line[1:] or None
        ) from None
    except yaml.YAMLError as exc:
        # e.g. a control character (a ReaderError): no line mark, and its text goes on to
        # a second line about "<unicode string>", which is no place the user knows
        problem = str(exc).strip().splitlines()[0]
        raise ContractError(f"{origin}: not valid YAML: {problem}", file=origin) from None
    return parse_contract(data, origin, lines=_line_map(node, origin))
