"""The local executor's fork server: one interpreter loads the pipeline, each step forks.

Starting a Python interpreter and importing pyarrow, the pipeline module and its
libraries costs about a second per step, and MLflow, scikit-learn's metrics and SciPy as
many again in the steps that use them. The fork server pays it once per run: it loads
the pipeline and :data:`STEP_LIBRARIES`, then for each step forks a child that runs it
and exits. The step still
runs in a process of its own (a crash or a kill takes only the child), its CPU time comes
from ``wait4`` on exactly that child, and its peak memory is the child's high-water mark
(which includes the pages it shares with the server at the fork).

Protocol, one JSON object per line over two pipes: the client sends
``{"preload": ref, "sys_path": [...]}`` once, then ``{"task": ..., "result": path}`` per
step; the server answers ``{"pid": n}`` when the child starts and
``{"status": wait_status, "cpu": seconds, "maxrss": kib}`` when it has ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["ForkServer", "main"]


class ForkServer:
    """The client side: start the server, run a task in a forked child, stop."""

    def __init__(self, python: str) -> None:
        self.python = python
        self._proc: subprocess.Popen[bytes] | None = None
        self._req: IO[str] | None = None
        self._resp: int | None = None  # the reply pipe's fd, read raw (see _read)
        self._pending = b""  # bytes read past the last whole line

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, ref: dict[str, str], sys_path: list[str]) -> None:
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        self._proc = subprocess.Popen(
            [
                self.python,
                "-m",
                "modelward.pipelines.executors.forkserver",
                str(req_r),
                str(resp_w),
            ],
            pass_fds=(req_r, resp_w),
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        os.close(req_r)
        os.close(resp_w)
        self._req = os.fdopen(req_w, "w", encoding="utf-8")
        self._resp = resp_r
        self._pending = b""
        self._send({"preload": ref, "sys_path": sys_path})
        self._read(None)  # {"ready": ...}: the server has loaded what it could

    def _send(self, message: dict[str, Any]) -> None:
        assert self._req is not None
        self._req.write(json.dumps(message, default=str) + "\n")
        self._req.flush()

    def _read(self, timeout: float | None) -> dict[str, Any] | None:
        """The next message, or None if none came within ``timeout``; EOFError if gone.

        The pipe is read raw, with the line buffer kept here: a buffered reader can take
        the server's next reply (a step's end, written right after its start) into its own
        buffer with the current one, and ``select`` on the pipe then waits for bytes that
        already arrived."""
        assert self._resp is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._pending:
            if deadline is not None:
                ready, _, _ = select.select(
                    [self._resp], [], [], max(0.0, deadline - time.monotonic())
                )
                if not ready:
                    return None
            chunk = os.read(self._resp, 65536)
            if not chunk:
                raise EOFError("the fork server exited")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    def run(
        self, task: dict[str, Any], result_path: Path, timeout_s: float | None, poll_s: float
    ) -> tuple[int, float, int, bool]:
        """Run one task; ``(wait status, cpu seconds, maxrss KiB, timed out)``."""
        self._send({"task": task, "result": str(result_path)})
        started = time.perf_counter()
        first = self._read(None)
        pid = int((first or {})["pid"])
        timed_out = False
        try:
            while True:
                done = self._read(poll_s)
                if done is not None:
                    return int(done["status"]), float(done["cpu"]), int(done["maxrss"]), timed_out
                if (
                    not timed_out
                    and timeout_s is not None
                    and time.perf_counter() - started > timeout_s
                ):
                    timed_out = True
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self.close()
            raise

    def close(self) -> None:
        if self._req is not None:
            with contextlib.suppress(OSError):
                self._req.close()
        if self._resp is not None:
            with contextlib.suppress(OSError):
                os.close(self._resp)
        self._req = self._resp = None
        self._pending = b""
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


def _child(message: dict[str, Any], req: IO[str], resp: IO[str]) -> int:
    from modelward.pipelines.worker import run_task

    req.close()
    resp.close()
    # the child gets its own signal defaults back (the server ignores SIGINT)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        run_task(message["task"], Path(message["result"]))
        return 0
    except BaseException:
        return 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()


#: what modelward's own steps import when they run (the pipeline template's snapshot,
#: training-set, evaluation and registration steps): imported once here, before the first
#: fork, instead of once in every step's child. About 2 CPU seconds a step otherwise
#: (MLflow alone is over one); none of these starts a thread at import, so forking after
#: them is safe. A step's peak memory counts these shared pages too (see the module doc).
STEP_LIBRARIES = (
    "modelward.session",
    "modelward.data",
    "modelward.features",
    "modelward.registry",
    "modelward.monitoring",
    "modelward.pipelines.evaluation",
    "modelward.pipelines.registration",
    "modelward.pipelines.report",
    "mlflow",
    "mlflow.sklearn",
    "skops.io",  # MLflow saves scikit-learn models with it (registry.serialization)
    "sklearn.metrics",
    "scipy.stats",
    "fairlearn.metrics",
)


def _import_step_libraries() -> None:
    import importlib

    for name in STEP_LIBRARIES:
        # one that fails to import is left to the step that needs it, which reports it
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def main(argv: list[str] | None = None) -> int:
    """``python -m modelward.pipelines.executors.forkserver REQ_FD RESP_FD``."""
    from modelward.pipelines.worker import extend_sys_path, load_pipeline

    args = sys.argv[1:] if argv is None else argv
    req = os.fdopen(int(args[0]), "r", encoding="utf-8")
    resp = os.fdopen(int(args[1]), "w", encoding="utf-8")
    # Ctrl-C reaches the whole process group; the client decides what to stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def reply(message: dict[str, Any]) -> None:
        resp.write(json.dumps(message) + "\n")
        resp.flush()

    for line in req:
        message = json.loads(line)
        if "preload" in message:
            extend_sys_path(message.get("sys_path", []))
            try:
                load_pipeline(message["preload"])
                _import_step_libraries()
                reply({"ready": True})
            except Exception as exc:  # the child will report it properly for the step
                reply({"ready": False, "error": str(exc)})
            continue
        pid = os.fork()
        if pid == 0:
            os._exit(_child(message, req, resp))
        reply({"pid": pid})
        _, status, usage = os.wait4(pid, 0)
        reply({"status": status, "cpu": usage.ru_utime + usage.ru_stime, "maxrss": usage.ru_maxrss})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
