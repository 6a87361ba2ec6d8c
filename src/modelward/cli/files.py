"""Files the CLI reads: definitions (an endpoint, a rollout policy; YAML, or JSON by
suffix) and JSON documents (a golden set)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelward.errors import InputError

__all__ = ["read_definition", "read_json"]


def read_json(path: Path) -> Any:
    """The parsed JSON of ``path``; refused as :func:`read_definition` refuses."""
    try:
        return json.loads(_text_of(path))
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON: {exc}", file=str(path)) from None


def read_definition(path: Path) -> Any:
    """The parsed content of ``path``; a file that cannot be read or parsed is an
    ``InputError`` on one line naming the file (and the line, where the parser knows it)."""
    import yaml

    if path.suffix == ".json":
        return read_json(path)
    try:
        return yaml.safe_load(_text_of(path))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        raise InputError(
            f"{path}{where}: not valid YAML: {exc.problem or exc.context}", file=str(path)
        ) from None
    except yaml.YAMLError as exc:
        # e.g. a control character (a ReaderError): no line mark, and its text goes on to
        # a second line about "<unicode string>", which is no place the user knows
        problem = str(exc).strip().splitlines()[0]
        raise InputError(f"{path}: not valid YAML: {problem}", file=str(path)) from None


def _text_of(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded)", file=str(path)
        ) from None
