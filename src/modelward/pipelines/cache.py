"""Content-addressed step outputs and the step cache.

Every output a step returns is serialised once and stored under
``.modelward/pipelines/objects/<aa>/<hash>.<ext>``, named by the hash of its content:
Arrow tables and DataFrames by the canonical table hash of ``modelward.data.hashing``
(the same rows hash the same on any machine), JSON values by the SHA-256 of their
canonical JSON, anything else by the SHA-256 of its pickle. A file is written under a
temporary name and renamed into place; a name that already exists already holds that
content, so nothing is ever overwritten with something different. Reading verifies the
hash before anything is deserialised (a pickle is only loaded when its bytes match).

The cache maps a key, ``sha256(step code hash, the parameter values the step reads,
its input hashes)``, to the output hashes (table ``pipeline_cache``, see
:mod:`modelward.pipelines.cache_index`); a repeated run with the same key reuses them.
This module needs no database, so step workers import it cheaply.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from modelward.data import hash_batches
from modelward.errors import StorageError

__all__ = ["ObjectStore", "StoredValue", "cache_key"]

_EXT = {"arrow": "parquet", "pandas": "parquet", "json": "json", "pickle": "pkl"}


@dataclass(frozen=True)
class StoredValue:
    """One stored output: its content hash, how it is serialised, and its size on disk."""

    hash: str
    codec: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"hash": self.hash, "codec": self.codec, "size": self.size}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoredValue:
        return cls(str(data["hash"]), str(data["codec"]), int(data["size"]))


def _canonical_json(value: Any) -> bytes | None:
    """Canonical JSON of ``value`` if it round-trips exactly (no tuples, NaN or objects)."""
    try:
        # a NaN or an infinity anywhere inside is refused here: JSON has neither
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    if json.loads(text) != value:  # a tuple comes back a list, an int key a str
        return None
    return text.encode()


def _is_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and type(value).__module__.startswith("pandas")


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class ObjectStore:
    """The content-addressed files of step outputs in one workspace (or a worker's staging)."""

    def __init__(self, root: Path, tmp_dir: Path) -> None:
        self.root = root
        self.tmp_dir = tmp_dir

    def path(self, stored: StoredValue) -> Path:
        digest = stored.hash.removeprefix("sha256:")
        return self.root / digest[:2] / f"{digest}.{_EXT[stored.codec]}"

    def exists(self, stored: StoredValue) -> bool:
        return self.path(stored).is_file()

    def _tmp(self) -> Path:
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. a file where the folder should be
            raise StorageError(f"{self.tmp_dir}: cannot store a step output: {exc}") from None
        return self.tmp_dir / f"obj-{os.getpid()}-{uuid.uuid4().hex[:12]}"

    def _publish(self, tmp: Path, stored: StoredValue) -> StoredValue:
        final = self.path(stored)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                tmp.unlink()  # same hash, same content: keep the file already there
            else:
                os.replace(tmp, final)
        except OSError as exc:
            raise StorageError(f"{final}: cannot store a step output: {exc}") from None
        return stored

    def put(self, value: Any) -> StoredValue:
        """Serialise and store ``value``; returns where and under which hash it is."""
        tmp = self._tmp()
        try:
            if isinstance(value, pa.Table) or _is_dataframe(value):
                codec = "arrow" if isinstance(value, pa.Table) else "pandas"
                table = value if isinstance(value, pa.Table) else pa.Table.from_pandas(value)
                digest = hash_batches(table.schema, table.to_batches())
                pq.write_table(table, tmp)
            else:
                raw = _canonical_json(value)
                codec = "json" if raw is not None else "pickle"
                if raw is None:
                    raw = pickle.dumps(value, protocol=5)
                digest = _sha(raw)
                tmp.write_bytes(raw)
            stored = StoredValue(digest, codec, tmp.stat().st_size)
            return self._publish(tmp, stored)
        except OSError as exc:
            raise StorageError(f"{self.root}: cannot store a step output: {exc}") from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def put_bytes(self, stored: StoredValue, data: bytes) -> StoredValue:
        """Store bytes produced elsewhere (a Ray worker) under their recorded hash."""
        tmp = self._tmp()
        try:
            tmp.write_bytes(data)
            return self._publish(tmp, stored)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def read_bytes(self, stored: StoredValue) -> bytes:
        return self.path(stored).read_bytes()

    def get(self, stored: StoredValue) -> Any:
        """The value, after checking that the file still has the recorded hash."""
        path = self.path(stored)
        try:
            if stored.codec in ("arrow", "pandas"):
                table = pq.read_table(path)
                if hash_batches(table.schema, table.to_batches()) != stored.hash:
                    raise StorageError(f"{path}: stored output does not match its hash")
                return table if stored.codec == "arrow" else table.to_pandas()
            raw = path.read_bytes()
        except FileNotFoundError:
            raise StorageError(
                f"{path}: a cached step output is missing; delete the cache entry or rerun "
                "with --no-cache",
                hash=stored.hash,
            ) from None
        if _sha(raw) != stored.hash:
            raise StorageError(f"{path}: stored output does not match its hash", hash=stored.hash)
        if stored.codec == "json":
            return json.loads(raw)
        # the bytes are exactly the ones this workspace wrote (hash checked above)
        return pickle.loads(raw)  # noqa: S301


def cache_key(code_hash: str, params: Mapping[str, Any], inputs: Mapping[str, str]) -> str:
    """The cache key of one step execution."""
    body = json.dumps(
        {"code": code_hash, "params": dict(params), "inputs": dict(inputs)},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()
