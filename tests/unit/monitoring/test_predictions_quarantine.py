"""The quarantine file: a record no sink can write is kept as one escaped JSON line, owner
readable only, appended whole even from many threads."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from modelward.monitoring.predictions.base import PredictionRecord
from modelward.monitoring.predictions.quarantine import QuarantineFile, quarantine_path


def record(request_id: str, **inputs: object) -> PredictionRecord:
    return PredictionRecord(request_id, 7, "churn", "churn", "3", dict(inputs), 0.5, 1.0, False)


def test_values_no_writer_can_carry_are_escaped_and_read_back(tmp_path: Path) -> None:
    quarantine = QuarantineFile(quarantine_path(tmp_path))
    quarantine(record("r1", text="bad \ud800 half", big=10**40, obj=object()), UnicodeError("x"))
    (entry,) = quarantine.read()
    assert entry["request_id"] == "r1" and entry["quarantined_for"] == "UnicodeError"
    assert entry["inputs"]["text"] == "bad \ud800 half"  # the lone surrogate survives
    assert entry["inputs"]["big"] == 10**40
    assert entry["inputs"]["obj"].startswith("<object object at")


def test_the_file_sits_in_the_workspace_and_only_its_owner_reads_it(tmp_path: Path) -> None:
    path = quarantine_path(tmp_path)
    assert path == tmp_path / ".modelward" / "quarantine" / "predictions.jsonl"
    QuarantineFile(path)(record("r1"), ValueError())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_empty_quarantine_reads_as_nothing(tmp_path: Path) -> None:
    assert QuarantineFile(quarantine_path(tmp_path)).read() == []


def test_lines_from_many_threads_and_two_writers_never_interleave(tmp_path: Path) -> None:
    path = quarantine_path(tmp_path)
    writers = [QuarantineFile(path), QuarantineFile(path)]  # two gateway workers

    def write(n: int) -> None:
        for i in range(50):
            writers[n % 2](record(f"t{n}-{i}", payload="x" * 5000), ValueError())

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = writers[0].read()
    assert len(entries) == 200
    assert {e["request_id"] for e in entries} == {f"t{n}-{i}" for n in range(4) for i in range(50)}
