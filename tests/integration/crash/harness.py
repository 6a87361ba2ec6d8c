"""Kill -9 at a named point: a child process runs an operation and stops where it is told.

The child imports :func:`pause_at` (from the prelude below), which wraps one function so
that, when it is called (``when="before"``) or has returned (``when="after"``), the child
prints ``REACHED <label>`` and blocks for good. The parent reads the child's output with
a deadline (:class:`Child`), and on that line sends SIGKILL: the operation dies exactly
there, as it would in a power cut or an OOM kill, with nothing given a chance to clean up.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[3]

PRELUDE = '''
import functools, importlib, sys, threading

def pause_at(target, label, *, when="before", only_if=None):
    """Wrap module.attr (or module.Class.attr) to report and block before/after a call."""
    module_name, _, attr = target.rpartition(":")
    owner = importlib.import_module(module_name)
    *path, name = attr.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)

    def stop():
        print("REACHED " + label, flush=True)
        threading.Event().wait()

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        hit = only_if is None or only_if(*args, **kwargs)
        if hit and when == "before":
            stop()
        result = original(*args, **kwargs)
        if hit and when == "after":
            stop()
        return result

    setattr(owner, name, wrapper)
    return original

def reached(label):
    print("REACHED " + label, flush=True)
    threading.Event().wait()
'''


class Child:
    """A child process running ``script`` after the prelude, both of its pipes drained.

    A thread per pipe reads it to its end, so the child never blocks on a full pipe (its
    stderr is read all along, not only at the end), and the lines of stdout are handed
    over through a queue. Waiting with ``select`` on the pipe and then calling
    ``readline`` loses lines: ``readline`` buffers every byte the pipe holds, so when a
    loaded parent finds two lines there at once (``BATCH 50`` and ``REACHED stopped``),
    the second sits in the buffer while ``select`` waits for more bytes that never come.
    """

    def __init__(self, script: str, *args: str, new_session: bool = True) -> None:
        code = PRELUDE + "\n" + textwrap.dedent(script)
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=new_session,  # its own workers die with it
            env={k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")},
        )
        self._own_group = new_session
        self.lines: list[str] = []
        self._stdout: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str | None] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=_pump, args=(self.process.stdout, self._stdout.put)),
            threading.Thread(target=_pump, args=(self.process.stderr, self._stderr.append)),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()

    @property
    def stderr(self) -> str:
        return "".join(s for s in self._stderr if s is not None)

    def wait_for(self, matches: Callable[[str], bool], what: str, timeout_s: float) -> str:
        """The first line of stdout ``matches`` accepts; fails the test at the deadline or
        when the child exits first (with what it printed)."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(
                    f"the child never printed {what}; it printed {self.lines}; "
                    f"stderr ends: {self.stderr[-2000:]}"
                )
            try:
                line = self._stdout.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.process.wait(timeout=30)
                self._join()
                pytest.fail(
                    f"the child exited ({self.process.returncode}) before {what}:\n{self.stderr}"
                )
            self.lines.append(line.rstrip())
            if matches(line.rstrip()):
                return line.rstrip()

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def finish(self, timeout_s: float) -> int:
        """Wait for the child to exit on its own; every line it printed is in ``lines``."""
        try:
            self.process.wait(timeout=timeout_s)
        finally:
            self.close()
        return self.process.returncode

    def close(self) -> None:
        """Kill the child (and its process group) if it still runs; drain and close."""
        if self.process.poll() is None:
            if self._own_group:
                os.killpg(self.process.pid, signal.SIGKILL)
            else:
                self.process.kill()
        self.process.wait(timeout=30)
        self._join()

    def _join(self) -> None:
        for reader in self._readers:
            reader.join(timeout=30)
        while True:
            try:
                line = self._stdout.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line.rstrip())
        assert self.process.stdout is not None and self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()


def _pump(stream: IO[str], put: Callable[[str | None], None]) -> None:
    for line in stream:  # to the end: the child and every process holding the pipe exited
        put(line)
    put(None)


def kill_at(script: str, *args: str, label: str, timeout_s: float = 120.0) -> list[str]:
    """Run ``script`` (after the prelude) in a child; SIGKILL it once it reports ``label``.

    Returns every line the child printed, including those still in the pipe at the kill.
    """
    child = Child(script, *args)
    try:
        child.wait_for(lambda line: line == f"REACHED {label}", repr(f"REACHED {label}"), timeout_s)
    finally:
        # a failed wait still kills the child and closes its pipes (an unclosed pipe would
        # surface as a ResourceWarning in whichever test runs next on this worker)
        child.close()
    assert child.process.returncode == -signal.SIGKILL
    return child.lines
