"""The kill -9 harness itself: it sees every line the child prints, however they arrive.

A loaded machine delays the parent, so a child's lines pile up in the pipe and are read
together; the kill point must still be seen (a missed one hung a stream test in CI).
"""

from __future__ import annotations

import signal

import pytest

from tests.integration.crash.harness import Child, kill_at


def test_a_kill_point_printed_in_the_same_write_as_the_line_before_it_is_seen() -> None:
    # both lines reach the pipe before the parent reads either: what a loaded parent finds
    script = 'print("BATCH 50\\nREACHED stopped", flush=True)\nthreading.Event().wait()'

    lines = kill_at(script, label="stopped", timeout_s=60)

    assert lines == ["BATCH 50", "REACHED stopped"]


def test_a_child_writing_more_to_stderr_than_a_pipe_holds_still_reaches_its_kill_point() -> None:
    # 1 MiB of warnings: a pipe read only at the end would block the child's writes
    script = 'import sys\nsys.stderr.write("w" * 1_048_576)\nsys.stderr.flush()\nreached("here")'

    assert kill_at(script, label="here", timeout_s=60) == ["REACHED here"]


def test_a_child_that_exits_before_its_kill_point_fails_the_test_with_its_stderr() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"(?s)exited \(3\).*boom"):
        kill_at('import sys\nprint("boom", file=sys.stderr)\nsys.exit(3)', label="x", timeout_s=60)


def test_the_lines_after_a_signal_are_kept_until_the_child_exits() -> None:
    script = (
        "import signal, sys, threading\n"
        "done = threading.Event()\n"
        "signal.signal(signal.SIGTERM, lambda *a: done.set())\n"
        'print("READY", flush=True)\n'
        "done.wait()\n"
        'print("LAST 1")\n'
        'print("LAST 2")\n'
    )
    child = Child(script, new_session=False)
    try:
        child.wait_for(lambda line: line == "READY", "READY", 60)
        child.send_signal(signal.SIGTERM)
        assert child.finish(60) == 0
    finally:
        child.close()
    assert child.lines == ["READY", "LAST 1", "LAST 2"]
