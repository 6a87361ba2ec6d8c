"""An S3 server for the tests: moto's, in process, on a free port of 127.0.0.1 (no network).

The segments prediction log runs its shared suite against it, as against a bucket: real
HTTP requests through pyarrow's S3 client, real multipart uploads, real listings.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator

import pytest

BUCKET = "modelward-test"
#: credentials the tests' server accepts; the secret is looked for in error messages
ACCESS_KEY = "AKIAMODELWARDTEST"
SECRET_KEY = "mw-test-secret-7f3a9c2e41"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def use_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The standard AWS variables, which pyarrow's S3 client reads."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The server's URL, with the test bucket made."""
    import pyarrow.fs as pafs
    from moto.server import ThreadedMotoServer

    # the server logs every request at INFO: a failing test's log would be only that
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        admin = pafs.S3FileSystem(
            endpoint_override=f"127.0.0.1:{port}",
            scheme="http",
            region="us-east-1",
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            allow_bucket_creation=True,
        )
        admin.create_dir(BUCKET)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_log_config(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A segments log config under a fresh prefix of the test bucket."""
    use_credentials(monkeypatch)
    return {
        "type": "segments",
        "path": f"s3://{BUCKET}/log-{uuid.uuid4().hex[:10]}",
        "endpoint_url": s3_endpoint,
        "region": "us-east-1",
    }
