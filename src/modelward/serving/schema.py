"""Request validation, compiled once per endpoint config and run on every request.

A request is ``{"inputs": {...}}`` (one row) or ``{"inputs": [{...}, ...]}`` (a batch).
The checks are plain type tests in a precomputed field list, not a generic validator
built per request: for a 20-field row they cost a few microseconds. Every broken rule is
reported, each naming its field (``inputs[3].tenure``) and the rule. NaN and infinity are
refused even though JSON parsers disagree on whether they are JSON at all.

What is accepted must be carriable by everything after validation (the model matrix, the
prediction log, monitoring's Arrow reads): an ``int`` field holds a signed 64-bit integer,
a ``float`` field a finite double (an integer past 64 bits is read as the double it
denotes, and refused when that overflows), a ``string`` field valid Unicode (no lone
surrogates, which ``\\ud800`` escapes can smuggle in but UTF-8 cannot encode).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from modelward.errors import MalformedRequest, RequestInvalid
from modelward.serving.endpoints import FieldType

__all__ = ["RequestSchema", "safe_text"]

_RULES: dict[str, str] = {
    "float": "must be a finite number",
    "int": "must be a 64-bit integer",
    "bool": "must be true or false",
    "string": "must be a string",
}


_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _check_float(v: Any) -> bool:
    t = type(v)
    # x - x == 0 is false exactly for NaN and the infinities; an integer past 64 bits is
    # refused here and given a second chance as a double by _as_float (the slow path)
    return (t is float and v - v == 0.0) or (t is int and _INT64_MIN <= v <= _INT64_MAX)


def _check_int(v: Any) -> bool:
    # orjson reads [2**63, 2**64) as an unsigned integer: the range check is what refuses it
    return type(v) is int and _INT64_MIN <= v <= _INT64_MAX


def _check_bool(v: Any) -> bool:
    return type(v) is bool


def _check_string(v: Any) -> bool:
    # isascii() is a flag read for CPython's compact strings: the encode runs only for
    # non-ASCII text, and refuses lone surrogates (which no UTF-8 writer can carry)
    if type(v) is not str:
        return False
    if v.isascii():
        return True
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _as_float(v: Any) -> float | None:
    """An integer too large for 64 bits, in a float field, as the finite double it denotes."""
    if type(v) is not int:
        return None
    try:
        return float(v)  # 10**400 overflows: refused
    except OverflowError:
        return None


def safe_text(text: str) -> str:
    """``text`` with lone surrogates escaped, so an error naming it can be serialised."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "float": _check_float,
    "int": _check_int,
    "bool": _check_bool,
    "string": _check_string,
}


def _non_finite(token: str) -> float:
    return float(token)  # NaN, Infinity, -Infinity: parsed so the field can be named


def decode(body: bytes) -> Any:
    """JSON to Python; NaN/Infinity literals are parsed (and refused later, by field)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body, parse_constant=_non_finite)
    except (ValueError, RecursionError) as exc:
        raise MalformedRequest(f"the request body is not valid JSON: {exc}") from None


class RequestSchema:
    """The request fields of one endpoint and the checks for them."""

    def __init__(self, endpoint: str, fields: Mapping[str, FieldType], max_rows: int) -> None:
        self.endpoint = endpoint
        self.fields = dict(fields)
        self.max_rows = max_rows
        self._names = frozenset(fields)
        self._checks = tuple((name, _CHECKS[kind]) for name, kind in fields.items())

    def parse(self, body: bytes) -> tuple[list[dict[str, Any]], bool]:
        """The validated rows and whether the request was a batch."""
        return self.validate(decode(body))

    def validate(self, data: Any) -> tuple[list[dict[str, Any]], bool]:
        if type(data) is not dict:
            raise MalformedRequest(
                'the request body must be a JSON object: {"inputs": {...}} or '
                '{"inputs": [{...}, ...]}'
            )
        if len(data) != 1 or "inputs" not in data:
            errors = [
                {
                    "field": safe_text(k)[:128],
                    "rule": "unknown top-level field; only 'inputs' is allowed",
                }
                for k in data
                if k != "inputs"
            ]
            if "inputs" not in data:
                errors.append({"field": "inputs", "rule": "is required"})
            raise self._invalid(errors)
        inputs = data["inputs"]
        if type(inputs) is dict:
            rows: list[Any] = [inputs]
            batch = False
        elif type(inputs) is list:
            rows = inputs
            batch = True
            if not rows:
                raise self._invalid([{"field": "inputs", "rule": "must hold at least one row"}])
            if len(rows) > self.max_rows:
                raise self._invalid(
                    [{"field": "inputs", "rule": f"at most {self.max_rows} rows per request"}]
                )
        else:
            raise self._invalid(
                [{"field": "inputs", "rule": "must be an object (one row) or a list of rows"}]
            )
        names = self._names
        checks = self._checks
        errors = []
        for i, row in enumerate(rows):
            if type(row) is not dict:
                where = f"inputs[{i}]" if batch else "inputs"
                errors.append({"field": where, "rule": "must be an object"})
                continue
            if row.keys() == names:
                ok = True
                for name, check in checks:
                    if not check(row[name]):
                        ok = False
                        break
                if ok:
                    continue
            errors.extend(self._row_errors(row, f"inputs[{i}]" if batch else "inputs"))
        if errors:
            raise self._invalid(errors)
        return rows, batch

    def accepted_fields(self, row: Any) -> dict[str, Any]:
        """Every request field of a refused ``row``: its value as sent where it meets its
        rule, None where it does not (what a rejected request's log row keeps)."""
        got = row if type(row) is dict else {}
        return {
            name: got[name] if name in got and check(got[name]) else None
            for name, check in self._checks
        }

    def _row_errors(self, row: dict[str, Any], where: str) -> list[dict[str, str]]:
        """Every broken rule of ``row``; a float field given a huge integer is converted."""
        errors = []
        for name, check in self._checks:
            if name not in row:
                errors.append({"field": f"{where}.{name}", "rule": "is required"})
            elif not check(row[name]):
                kind = self.fields[name]
                if kind == "float" and (converted := _as_float(row[name])) is not None:
                    row[name] = converted
                    continue
                rule = _RULES[kind]
                if kind == "string" and type(row[name]) is str:
                    rule = "must be valid Unicode text (a lone surrogate cannot be stored)"
                errors.append({"field": f"{where}.{name}", "rule": rule})
        for name in row:
            if name not in self._names:
                errors.append(
                    {
                        "field": f"{where}.{safe_text(name)[:128]}",
                        "rule": f"is not a request field of endpoint {self.endpoint!r}",
                    }
                )
        return errors

    def _invalid(self, errors: list[dict[str, str]]) -> RequestInvalid:
        shown = "; ".join(f"{e['field']} {e['rule']}" for e in errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        return RequestInvalid(
            f"request to endpoint {self.endpoint!r} is invalid: {shown}{more}",
            errors=errors[:100],
        )
