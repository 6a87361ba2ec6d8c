"""A text file written whole or not at all: ``write_text_replacing``.

Reports and pages (the evaluation report, the monitor report, the shadow page) are read
by people and by the dashboard while a command may be writing them again, so each is
written under a temporary name beside its place and renamed over it: a reader sees the
old file or the new one, never half of one, and a failure leaves no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from modelward.errors import StorageError

__all__ = ["write_text_replacing"]


def write_text_replacing(path: Path, text: str, *, what: str, make_parent: bool = False) -> Path:
    """Write ``text`` to ``path`` by a rename; ``what`` names the file in the error.

    Any failure (no space, no permission, a file where the folder should be) raises
    :class:`~modelward.errors.StorageError` naming ``path`` and the reason, with nothing
    left at the temporary name."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if make_parent:
            path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        # the clean-up can fail the same way (a file in the folder's place): the error to
        # give is the one about the file, naming it
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise StorageError(f"{path}: cannot write {what}: {exc.strerror or exc}") from None
    return path
