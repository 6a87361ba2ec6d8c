"""Where the segments log keeps its objects: a local folder or an S3 prefix, both through
``pyarrow.fs``, so the sink has one write path and one read path for either.

The only write primitive the sink uses is :meth:`SegmentLocation.put`, which makes a whole
object visible at once or not at all: on S3 a PUT (a multipart upload becomes visible only
when it completes), on a local disk a write to a hidden temporary file and a rename. There
is no rename and no lock on object storage, and the commit protocol needs neither (see
:mod:`~modelward.monitoring.predictions.segments`).

Credentials come from the standard AWS chain (``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, ``~/.aws``, an instance or pod role), never from the workspace
file; messages name the bucket and prefix, and any credential the environment holds is cut
out of an error before it is shown.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from modelward import parquet

__all__ = [
    "ROW_GROUP_ROWS",
    "SegmentLocation",
    "at_range",
    "check_endpoint_url",
    "check_log_path",
    "open_location",
]

_SOURCES_KEY = b"modelward.compacted_from"
#: the columns that never repeat: no dictionary for them (modelward/parquet.py)
_UNIQUE = ("cursor", "request_id")
#: rows of a segment's Parquet row groups (a batch part of 65,536 rows is one of them)
ROW_GROUP_ROWS = 65_536

#: environment variables whose values never appear in a message
_CREDENTIAL_VARS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")


def check_log_path(value: str) -> str:
    """The rule for ``path``: a folder, or ``s3://bucket[/prefix]`` with no credentials."""
    if "://" not in value:
        return value
    parts = urlsplit(value)
    if parts.scheme != "s3":
        raise ValueError(f"a URL must be s3://bucket/prefix (got the scheme {parts.scheme!r})")
    if "@" in parts.netloc:
        # never echo it: the part before '@' is a key and a secret
        raise ValueError(
            "credentials do not go in the URL; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or use an instance role)"
        )
    if not parts.netloc:
        raise ValueError("an s3:// URL names a bucket: s3://bucket/prefix")
    if parts.query or parts.fragment:
        raise ValueError("an s3:// URL has no query; set endpoint_url and region instead")
    return value


def check_endpoint_url(value: str) -> str:
    """The rule for ``endpoint_url``: empty (AWS) or ``http(s)://host[:port]``."""
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be http://host:port or https://host (an S3-compatible server)")
    if "@" in parts.netloc:
        raise ValueError("credentials do not go in the URL; set AWS_ACCESS_KEY_ID instead")
    if parts.path not in ("", "/") or parts.query:
        raise ValueError("must be only a scheme, a host and a port")
    return value


@dataclass
class SegmentLocation:
    """A folder of per-endpoint folders of objects, on one filesystem."""

    fs: pafs.FileSystem
    #: the root on ``fs`` (a local path, or ``bucket/prefix`` on S3)
    root: str
    #: how messages name it (the folder, or ``s3://bucket/prefix``): never a credential
    label: str
    local: bool
    _secrets: tuple[str, ...] = field(default=(), repr=False)

    def _key(self, endpoint: str, name: str = "") -> str:
        folder = f"{self.root}/{endpoint}" if self.root else endpoint
        return f"{folder}/{name}" if name else folder

    def names(self, endpoint: str) -> list[str]:
        """The object names of ``endpoint`` (hidden temporary files left out): one LIST."""
        infos = self.fs.get_file_info(pafs.FileSelector(self._key(endpoint), allow_not_found=True))
        return [
            i.base_name
            for i in infos
            if i.type == pafs.FileType.File and not i.base_name.startswith(".")
        ]

    def endpoints(self) -> list[str]:
        infos = self.fs.get_file_info(pafs.FileSelector(self.root, allow_not_found=True))
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)

    def put(self, endpoint: str, name: str, table: pa.Table) -> None:
        """Store ``table`` as one Parquet object, visible whole or not at all."""
        target = self._key(endpoint, name)
        if not self.local:
            # encoded whole first: a stream closed by an error while Parquet is written
            # would complete the upload, and a half object would become visible
            encoded = pa.BufferOutputStream()
            parquet.write_table(table, encoded, unique=_UNIQUE, row_group_size=ROW_GROUP_ROWS)
            with self.fs.open_output_stream(target) as out:
                out.write(encoded.getvalue())
            return
        # a local file is visible while it is written: write aside, then rename
        self.fs.create_dir(self._key(endpoint), recursive=True)
        temporary = self._key(endpoint, f".{name}.{uuid.uuid4().hex[:8]}.tmp")
        parquet.write_table(
            table, temporary, unique=_UNIQUE, filesystem=self.fs, row_group_size=ROW_GROUP_ROWS
        )
        os.replace(temporary, target)

    def delete(self, endpoint: str, name: str) -> None:
        # gone already: a retry, or another process's clean-up
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(self._key(endpoint, name))

    def read(
        self, endpoint: str, name: str, columns: list[str] | None = None, filters: Any = None
    ) -> pa.Table:
        return pq.read_table(
            self._key(endpoint, name), columns=columns, filters=filters, filesystem=self.fs
        )

    def metadata(self, endpoint: str, name: str) -> pq.FileMetaData:
        with self.fs.open_input_file(self._key(endpoint, name)) as f:
            return pq.read_metadata(f)

    def legacy_sources(self, endpoint: str, name: str) -> list[str]:
        """The batches a compacted file of the layout before writer ids names as its
        sources (in its Parquet metadata)."""
        meta = self.metadata(endpoint, name).metadata or {}
        raw = meta.get(_SOURCES_KEY)
        return list(orjson.loads(raw)) if raw else []

    def describe(self, exc: BaseException) -> str:
        """``exc`` as a message fit to show: any credential of the environment cut out."""
        text = (exc.strerror if isinstance(exc, OSError) and exc.strerror else None) or str(exc)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def open_location(
    path: str, root: Path, *, endpoint_url: str = "", region: str = ""
) -> SegmentLocation:
    """The location ``path`` names (relative folders are under ``root``)."""
    if path.startswith("s3://"):
        parts = urlsplit(path)
        prefix = f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
        options: dict[str, Any] = {
            # bounded: an unreachable server is an error in seconds, never a hang
            "connect_timeout": 5,
            "request_timeout": 30,
            "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=3),
        }
        if endpoint_url:
            server = urlsplit(endpoint_url)
            options["endpoint_override"] = server.netloc
            options["scheme"] = server.scheme
        if region:
            options["region"] = region
        secrets = tuple(v for v in (os.environ.get(n, "") for n in _CREDENTIAL_VARS) if v)
        return SegmentLocation(
            pafs.S3FileSystem(**options), prefix, f"s3://{prefix}", local=False, _secrets=secrets
        )
    folder = Path(path) if path else root / ".modelward" / "predictions"
    if not folder.is_absolute():
        folder = root / folder
    return SegmentLocation(pafs.LocalFileSystem(), str(folder), str(folder), local=True)


def at_range(meta: pq.FileMetaData) -> tuple[int, int] | None:
    """The smallest and largest ``at_us`` of a file, from its row-group statistics."""
    index = meta.schema.to_arrow_schema().get_field_index("at_us")
    lows, highs = [], []
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(index).statistics
        if stats is None or not stats.has_min_max:
            return (0, 2**62)  # unknown: read it
        lows.append(stats.min)
        highs.append(stats.max)
    return (min(lows), max(highs)) if lows else None
