"""How the CLI talks: Rich tables for people, ``--json`` for scripts, errors on stderr.

Text that comes from data (a regex ``[a-z0-9._]``, a path, a message) is never read as Rich
markup: :func:`print_table` escapes every plain string cell, styled cells are built with
:func:`styled`, and :func:`say` escapes what it interpolates. Durations print one way
everywhere, :func:`duration`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from modelward.durations import show_duration

__all__ = [
    "command_prefix",
    "console",
    "duration",
    "err_console",
    "print_json",
    "print_table",
    "progress",
    "say",
    "styled",
]

console = Console(highlight=False, soft_wrap=False)
err_console = Console(stderr=True, highlight=False)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def print_json(data: Any) -> None:
    """Plain JSON on stdout (no Rich markup, no wrapping), for scripts."""
    sys.stdout.write(json.dumps(data, indent=2, default=_default, sort_keys=False) + "\n")
    sys.stdout.flush()


def styled(text: str, style: str) -> Text:
    """A table cell or message part shown in ``style`` (e.g. "green"), its text taken as is."""
    return Text(text, style=style)


def _cell(value: Any) -> Text | str:
    if isinstance(value, Text):
        return value
    return "" if value is None else escape(str(value))


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A table; plain cells are shown literally (never as markup), :func:`styled` cells styled."""
    table = Table(title=escape(title) if title else None, title_justify="left", header_style="bold")
    for col in columns:
        table.add_column(escape(col), overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    console.print(table)


def say(template: str, *values: Any, err: bool = False) -> None:
    """Print ``template`` (markup allowed) with each ``{}`` filled by an escaped value."""
    text = template.format(*(escape(str(v)) for v in values))
    (err_console if err else console).print(text, soft_wrap=True)


def command_prefix() -> str:
    """How to type ``modelward`` so that a printed hint runs as printed: ``modelward`` when
    that is on PATH and is this program, else the path this program was started by
    (``.venv/bin/modelward`` after ``make quickstart``, before the venv is activated)."""
    import os
    import shutil

    started = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if started is None or started.name != "modelward":
        return "modelward"
    found = shutil.which("modelward")
    if found is not None and Path(found).resolve() == started.resolve():
        return "modelward"
    try:
        shown = os.path.relpath(started)
    except ValueError:  # another drive (Windows)
        shown = str(started)
    if shown.startswith(".."):  # far from here: the absolute path reads better
        return os.path.abspath(started)
    return shown if os.sep in shown else f".{os.sep}{shown}"


def duration(value: float | timedelta | None) -> str:
    """The one way a duration is shown (:func:`modelward.durations.show_duration`)."""
    return show_duration(value)


def progress(*, transient: bool = True) -> Progress:
    """A progress bar on stderr, so ``--json`` output on stdout stays clean."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
        disable=not err_console.is_terminal,
    )
