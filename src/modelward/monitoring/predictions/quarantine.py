"""Where the prediction log writer sets aside a record no sink can write.

A record the sink cannot serialise (text no UTF-8 writer can carry, a number past what
JSON or the column can hold, an object of a type the encoder does not know) is appended
to ``.modelward/quarantine/predictions.jsonl``, one JSON line per record, with every
value escaped so the line can always be written: lone surrogates as ``\\udXXX``, unknown
types as their ``repr``. The inputs were redacted (the endpoint's ``pii_fields``) before
the record was queued, and the file is created readable by its owner only.

Appending, not write-then-rename: a quarantine line is one ``write`` to a file opened with
``O_APPEND``, so concurrent gateway workers never interleave inside a line, and an
existing line is never rewritten.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from modelward.monitoring.predictions.base import PredictionRecord

__all__ = ["QuarantineFile", "quarantine_path"]


def quarantine_path(root: Path) -> Path:
    """The quarantine file of the workspace at ``root``."""
    return root / ".modelward" / "quarantine" / "predictions.jsonl"


class QuarantineFile:
    """Appends quarantined records; use it as the writer's ``quarantine`` callback."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def __call__(self, record: PredictionRecord, exc: Exception) -> None:
        entry: dict[str, Any] = {**record._asdict(), "quarantined_for": type(exc).__name__}
        # ensure_ascii escapes lone surrogates; json has no integer limit; repr for the rest
        line = json.dumps(entry, ensure_ascii=True, default=repr) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("ascii"))
            finally:
                os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        """The quarantined entries, oldest first (for inspection and tests)."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="ascii") as f:
            return [json.loads(line) for line in f if line.strip()]
