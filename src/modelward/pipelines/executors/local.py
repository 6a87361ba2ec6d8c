"""Local executors: a process per step (``local``), or the calling process (``inline``).

``local`` runs each step in a process of its own: forked from a server that loaded the
pipeline once (the default), or a fresh ``python -m modelward.pipelines.worker`` with the
task on stdin. ``os.wait4`` reports the CPU seconds of exactly that process (also when it
was killed), and the worker reports its own peak memory, so each step's cost is its own.
A worker that dies before writing its result (killed, out of memory) is a failed step
naming the signal; the run can be resumed by running it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelward.pipelines.cache import ObjectStore, StoredValue
from modelward.pipelines.executors.base import StepOutcome
from modelward.pipelines.executors.forkserver import ForkServer
from modelward.pipelines.worker import execute

if TYPE_CHECKING:
    from modelward.pipelines.graph import Pipeline

__all__ = ["InlineExecutor", "LocalExecutor"]

_POLL_S = 0.02


def _outcome(result: Mapping[str, Any]) -> StepOutcome:
    if result.get("ok"):
        return StepOutcome(
            ok=True,
            outputs={k: StoredValue.from_dict(v) for k, v in result["outputs"].items()},
        )
    return StepOutcome(
        ok=False,
        error=result.get("error"),
        traceback=result.get("traceback"),
        error_details=result.get("error_details"),
    )


class LocalExecutor:
    """Each step in its own process on this machine.

    With ``fork_server`` (the default) one server process loads the pipeline once and
    forks a child per step (see :mod:`~modelward.pipelines.executors.forkserver`);
    without it each step starts a fresh interpreter. Either way a step that crashes or
    is killed takes only its own process with it.
    """

    name = "local"

    def __init__(
        self, timeout_s: float | None = None, python: str | None = None, fork_server: bool = True
    ) -> None:
        #: a step running longer is killed and fails (None: no limit)
        self.timeout_s = timeout_s
        self.python = python or sys.executable
        self.fork_server = fork_server
        self._server: ForkServer | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def run_step(
        self, task: Mapping[str, Any], objects: ObjectStore, pipeline: Pipeline
    ) -> StepOutcome:
        objects.tmp_dir.mkdir(parents=True, exist_ok=True)
        result_path = objects.tmp_dir / f"step-result-{uuid.uuid4().hex[:12]}.json"
        payload = {**task, "sys_path": [p for p in sys.path if p]}
        started = time.perf_counter()
        if self.fork_server:
            status, cpu, maxrss_kib, timed_out = self._in_server(payload, result_path)
        else:
            status, cpu, maxrss_kib, timed_out = self._in_new_process(payload, result_path)
        wall = time.perf_counter() - started
        try:
            result = json.loads(result_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            error = (
                f"StepTimeout: the step ran longer than {self.timeout_s:g} s and was killed"
                if timed_out
                else self._death(status)
            )
            result = {"ok": False, "error": error}
        finally:
            result_path.unlink(missing_ok=True)
        outcome = _outcome(result)
        outcome.wall_seconds = round(wall, 3)
        outcome.cpu_seconds = round(cpu, 3)
        # the worker's own high-water mark; ru_maxrss also counts the parent at the fork
        peak = result.get("peak_memory_bytes")
        outcome.peak_memory_bytes = int(peak) if peak else maxrss_kib * 1024
        return outcome

    def _in_server(
        self, payload: dict[str, Any], result_path: Path
    ) -> tuple[int, float, int, bool]:
        if self._server is None or not self._server.running:
            if self._server is not None:
                self._server.close()
            self._server = ForkServer(self.python)
            self._server.start(payload["ref"], payload["sys_path"])
            # a server left open by a caller that never closes us ends with this object
            self._finalizer = weakref.finalize(self, self._server.close)
        try:
            return self._server.run(payload, result_path, self.timeout_s, _POLL_S)
        except EOFError:
            # the server itself died (killed from outside): the step's fate is unknown
            self._server.close()
            self._server = None
            return 9, 0.0, 0, False

    def _in_new_process(
        self, payload: dict[str, Any], result_path: Path
    ) -> tuple[int, float, int, bool]:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [self.python, "-m", "modelward.pipelines.worker", str(result_path)],
            stdin=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(json.dumps(payload, default=str).encode())
                proc.stdin.close()
            status, usage, timed_out = self._wait(proc, started)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(ChildProcessError):
                os.wait4(proc.pid, 0)
            raise
        return status, usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss), timed_out

    def _wait(self, proc: subprocess.Popen[bytes], started: float) -> tuple[int, Any, bool]:
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                return status, usage, timed_out
            if (
                not timed_out
                and self.timeout_s is not None
                and time.perf_counter() - started > self.timeout_s
            ):
                timed_out = True
                proc.kill()
            time.sleep(_POLL_S)

    def _death(self, status: int) -> str:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig
            return f"WorkerDied: the step's worker process was killed by signal {sig} ({name})"
        return (
            f"WorkerDied: the step's worker process exited with code "
            f"{os.waitstatus_to_exitcode(status)} without a result"
        )

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None


class InlineExecutor:
    """Steps in the calling process: no isolation, for tests and debugging."""

    name = "inline"

    def run_step(
        self, task: Mapping[str, Any], objects: ObjectStore, pipeline: Pipeline
    ) -> StepOutcome:
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        outcome = _outcome(execute(task, objects, pipeline))
        after = resource.getrusage(resource.RUSAGE_SELF)
        outcome.wall_seconds = round(time.perf_counter() - started, 3)
        outcome.cpu_seconds = round(
            (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 3
        )
        # the process's peak so far: an upper bound for the step
        outcome.peak_memory_bytes = int(after.ru_maxrss) * 1024
        return outcome

    def close(self) -> None:
        return None
