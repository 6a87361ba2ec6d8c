"""The fork server's client reads every reply, however the replies arrive on the pipe."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator

import pytest

from modelward.pipelines.executors.forkserver import ForkServer


class ServerEnd:
    """The server's side of a client's reply pipe, written by the test."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    def write(self, data: bytes) -> None:
        assert self.fd is not None
        os.write(self.fd, data)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@pytest.fixture
def pipe() -> Iterator[tuple[ForkServer, ServerEnd]]:
    """A client whose reply pipe is ours to write (no server process behind it)."""
    client = ForkServer(sys.executable)
    read_end, write_end = os.pipe()
    client._resp = read_end
    server = ServerEnd(write_end)
    yield client, server
    server.close()
    client.close()


def test_a_steps_end_written_with_its_start_is_read_without_waiting(
    pipe: tuple[ForkServer, ServerEnd],
) -> None:
    # a step that ends at once (it kills itself, on a busy machine): the server writes
    # {"pid"} and {"status"} before the client reads the first, and one read gets both.
    # A buffered reader kept the second in its buffer and select() then waited forever.
    client, server = pipe
    server.write(b'{"pid": 7}\n{"status": 9, "cpu": 0.1, "maxrss": 10}\n')
    assert client._read(None) == {"pid": 7}
    assert client._read(0.0) == {"status": 9, "cpu": 0.1, "maxrss": 10}
    assert client._read(0.0) is None


def test_a_reply_split_across_writes_is_read_whole(pipe: tuple[ForkServer, ServerEnd]) -> None:
    client, server = pipe
    line = json.dumps({"status": 0, "cpu": 1.5, "maxrss": 2048}).encode()
    server.write(line[:7])
    assert client._read(0.0) is None  # half a line is not a message yet
    server.write(line[7:] + b"\n")
    assert client._read(0.0) == {"status": 0, "cpu": 1.5, "maxrss": 2048}


def test_the_server_gone_is_an_eof_not_a_hang(pipe: tuple[ForkServer, ServerEnd]) -> None:
    client, server = pipe
    server.write(b'{"pid": 7}\n')
    server.close()
    assert client._read(None) == {"pid": 7}
    with pytest.raises(EOFError, match="the fork server exited"):
        client._read(1.0)
