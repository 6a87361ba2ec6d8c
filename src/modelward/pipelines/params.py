"""Typed pipeline parameters: declared once, parsed from ``key=value`` text, checked.

A pipeline declares ``params={"seed": Param(int, default=7)}`` (or the shorthand
``{"seed": 7}``, whose type is the default's). Values given on the command line arrive as
text and are parsed to the declared type; values given from Python must already have it.
Either way a wrong value is an :class:`~modelward.errors.InputError` naming the pipeline,
the parameter and the rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelward.errors import InputError

__all__ = ["MISSING", "Param", "ParamType", "as_param", "parse_assignments", "resolve_params"]

ParamType = type[int] | type[float] | type[str] | type[bool]
_TYPES: dict[type, str] = {int: "int", float: "float", str: "str", bool: "bool"}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: the default of a required parameter
MISSING: Any = _Missing()


@dataclass(frozen=True)
class Param:
    """A pipeline parameter: its type, default (``MISSING``: required), help and choices."""

    type: ParamType
    default: Any = MISSING
    help: str = ""
    choices: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise InputError(
                f"Param type {self.type!r} is not supported; use int, float, str or bool",
                field="type",
            )
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
            for choice in self.choices or ():
                self.check("(choices)", choice)
        if self.default is not MISSING:
            self.check("(default)", self.default)

    @property
    def type_name(self) -> str:
        return _TYPES[self.type]

    @property
    def required(self) -> bool:
        return self.default is MISSING

    def check(self, name: str, value: Any, *, where: str = "") -> Any:
        """``value`` if it has this parameter's type (ints are accepted as floats)."""
        ok = isinstance(value, self.type) and not (self.type is int and isinstance(value, bool))
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if self.type is float and ok and not math.isfinite(value):
            raise InputError(
                f"{where}parameter {name!r}: must be a finite number, got {value!r}",
                param=name,
            )
        if not ok:
            raise InputError(
                f"{where}parameter {name!r}: expected {self.type_name}, "
                f"got {type(value).__name__} {value!r}",
                param=name,
                expected=self.type_name,
            )
        if ok and isinstance(value, str) and not _is_unicode(value):
            # bytes that are not UTF-8 on a command line arrive as lone surrogates; such
            # a value could be stored but never shown in a report or an API answer
            raise InputError(
                f"{where}parameter {name!r}: must be valid UTF-8 text, got {value!a}",
                param=name,
            )
        if self.choices is not None and value not in self.choices:
            raise InputError(
                f"{where}parameter {name!r}: {value!r} is not one of "
                f"{', '.join(map(repr, self.choices))}",
                param=name,
            )
        return value

    def parse(self, name: str, text: str, *, where: str = "") -> Any:
        """Parse command-line text to this parameter's type."""
        value: Any
        try:
            if self.type is bool:
                low = text.strip().lower()
                if low not in _TRUE | _FALSE:
                    raise ValueError(text)
                value = low in _TRUE
            elif self.type is int:
                value = int(text.strip())
            elif self.type is float:
                value = float(text.strip())
            else:
                value = text
        except ValueError:
            raise InputError(
                f"{where}parameter {name!r}: expected {self.type_name}, got {text!r}",
                param=name,
                expected=self.type_name,
            ) from None
        return self.check(name, value, where=where)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "default": None if self.required else self.default,
            "required": self.required,
            "help": self.help,
            "choices": list(self.choices) if self.choices is not None else None,
        }


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def as_param(name: str, spec: Param | Any) -> Param:
    """A :class:`Param` from a declaration: a ``Param``, or a default value of a known type."""
    if isinstance(spec, Param):
        return spec
    if type(spec) not in _TYPES:
        raise InputError(
            f"parameter {name!r}: declare it as Param(type, default=...); a plain default "
            f"must be int, float, str or bool, got {type(spec).__name__}",
            param=name,
        )
    return Param(type(spec), default=spec)


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a malformed item is an InputError."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"parameter {item!r}: expected key=value", param=item)
        if key in out:
            raise InputError(f"parameter {key!r}: given more than once", param=key)
        out[key] = value
    return out


def resolve_params(
    declared: Mapping[str, Param],
    given: Mapping[str, Any],
    *,
    pipeline: str,
    from_text: bool = False,
) -> dict[str, Any]:
    """Every declared parameter's value: given (parsed when ``from_text``) or default."""
    where = f"pipeline {pipeline!r}: "
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise InputError(
            f"{where}unknown parameter(s) {', '.join(map(repr, unknown))}; known: {known}",
            param=unknown[0],
        )
    values: dict[str, Any] = {}
    for name, param in declared.items():
        if name in given:
            raw = given[name]
            if from_text and isinstance(raw, str):
                values[name] = param.parse(name, raw, where=where)
            else:
                values[name] = param.check(name, raw, where=where)
        elif param.required:
            raise InputError(
                f"{where}parameter {name!r} is required ({param.type_name})", param=name
            )
        else:
            values[name] = param.default
    return values
