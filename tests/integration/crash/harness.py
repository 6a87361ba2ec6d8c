"""Kill -9 at a named point: a child process runs an operation and stops where it is told.

The child imports :func:`pause_at` (from the prelude below), which wraps one function so
that, when it is called (``when="before"``) or has returned (``when="after"``), the child
prints ``REACHED <label>`` and blocks for good. The parent reads the child's output with
a deadline, and on that line sends SIGKILL: the operation dies exactly there, as it would
in a power cut or an OOM kill, with nothing given a chance to clean up.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

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


def kill_at(script: str, *args: str, label: str, timeout_s: float = 120.0) -> list[str]:
    """Run ``script`` (after the prelude) in a child; SIGKILL it once it reports ``label``.

    Returns every line the child printed, including those still in the pipe at the kill.
    """
    code = PRELUDE + "\n" + textwrap.dedent(script)
    child = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own workers die with it
        env={k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")},
    )
    assert child.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(child.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"the child never reached {label!r}; it printed {seen}")
            if not selector.select(left):
                continue
            line = child.stdout.readline()
            if not line:
                child.wait()
                err = child.stderr.read() if child.stderr else ""
                child.stdout.close()
                if child.stderr is not None:
                    child.stderr.close()
                pytest.fail(f"the child exited ({child.returncode}) before {label!r}:\n{err}")
            seen.append(line.rstrip())
            if line.strip() == f"REACHED {label}":
                break
    except BaseException:
        # a failed wait still kills the child and closes its pipes (an unclosed pipe would
        # surface as a ResourceWarning in whichever test runs next on this worker)
        selector.close()
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        if child.stderr is not None:
            child.stderr.close()
        raise
    selector.close()
    if child.poll() is None:
        os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    seen.extend(line.rstrip() for line in child.stdout)
    child.stdout.close()
    if child.stderr is not None:
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    return seen
