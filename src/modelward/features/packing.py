"""How feature values travel to and from an online store: entity keys and packed rows.

A row is packed in binary, the same bytes for every backend:

``version (1 byte) | null bitmap (1 bit per feature) | fixed-size values | strings``

Fixed-size values (int64, float64, bool, timestamp as microseconds since the epoch) are
one little-endian ``struct`` in feature order, so unpacking them is one C call; each
string follows as a 4-byte length and UTF-8 bytes. JSON was the first codec: parsing
floats from text made a 100-entity lookup three times slower.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

__all__ = [
    "CODEC_VERSION",
    "DType",
    "entity_key",
    "from_us",
    "pack",
    "to_us",
    "unpack",
    "unpack_many",
]

#: bumped with any change to the byte layout; part of each view's online namespace
#: the value types a feature can have, and so the types this codec carries
DType = Literal["int64", "float64", "string", "bool", "timestamp"]

CODEC_VERSION = 1
_VERSION_BYTE = bytes([CODEC_VERSION])
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: separates the parts of a composite key; a control character no key should contain
_KEY_SEP = "\x1f"
_FORMATS = {"int64": "q", "float64": "d", "bool": "?", "timestamp": "q"}
_ZERO: dict[str, Any] = {"int64": 0, "float64": 0.0, "bool": False, "timestamp": 0}
_LEN = struct.Struct("<I")


def entity_key(values: Sequence[Any]) -> str:
    if len(values) == 1:
        return str(values[0])
    return _KEY_SEP.join(str(v) for v in values)


def to_us(value: datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


class _Codec:
    def __init__(self, dtypes: tuple[DType, ...]) -> None:
        self.n = len(dtypes)
        self.nb = (self.n + 7) // 8
        self.fixed = [i for i, t in enumerate(dtypes) if t != "string"]
        self.strings = [i for i, t in enumerate(dtypes) if t == "string"]
        self.stamps = [i for i, t in enumerate(dtypes) if t == "timestamp"]
        self.zero = [_ZERO[dtypes[i]] for i in self.fixed]
        self.struct = struct.Struct("<" + "".join(_FORMATS[dtypes[i]] for i in self.fixed))
        self.head = 1 + self.nb
        # rebuilding a row from the fixed tuple by inserting strings at their positions is
        # cheaper than assigning every field, when strings are few
        self.inserts = sorted(self.strings)

    def pack(self, values: Sequence[Any]) -> bytes:
        bitmap = 0
        fixed = []
        for j, i in enumerate(self.fixed):
            v = values[i]
            if v is None:
                bitmap |= 1 << i
                v = self.zero[j]
            elif i in self.stamps:
                v = to_us(v)
            fixed.append(v)
        tail = []
        for i in self.strings:
            v = values[i]
            if v is None:
                bitmap |= 1 << i
                raw = b""
            else:
                raw = str(v).encode()
            tail.append(_LEN.pack(len(raw)) + raw)
        return b"".join(
            [_VERSION_BYTE, bitmap.to_bytes(self.nb, "little"), self.struct.pack(*fixed), *tail]
        )

    def unpack(self, blob: bytes) -> list[Any]:
        if blob[0] != CODEC_VERSION:
            raise ValueError(f"packed row has codec version {blob[0]}, expected {CODEC_VERSION}")
        row = list(self.struct.unpack_from(blob, self.head))
        if self.inserts:
            pos = self.head + self.struct.size
            for i in self.inserts:
                (length,) = _LEN.unpack_from(blob, pos)
                pos += 4
                row.insert(i, blob[pos : pos + length].decode())
                pos += length
        bitmap = int.from_bytes(blob[1 : self.head], "little")
        if bitmap:
            for i in range(self.n):
                if bitmap >> i & 1:
                    row[i] = None
        for i in self.stamps:
            if row[i] is not None:
                row[i] = from_us(row[i])
        return row


@lru_cache(maxsize=1024)
def _codec(dtypes: tuple[DType, ...]) -> _Codec:
    return _Codec(dtypes)


def pack(values: Sequence[Any], dtypes: Sequence[DType]) -> bytes:
    return _codec(tuple(dtypes)).pack(values)


def unpack(blob: bytes, dtypes: Sequence[DType]) -> list[Any]:
    return _codec(tuple(dtypes)).unpack(blob)


def unpack_many(blobs: Sequence[bytes], dtypes: Sequence[DType]) -> list[list[Any]]:
    """Unpack many rows of one layout (the lookup's hot path: names bound once, outside)."""
    codec = _codec(tuple(dtypes))
    fixed = codec.struct.unpack_from
    head, size, n, inserts, stamps = (
        codec.head,
        codec.struct.size,
        codec.n,
        codec.inserts,
        codec.stamps,
    )
    length_of = _LEN.unpack_from
    rows = []
    for blob in blobs:
        if blob[0] != CODEC_VERSION:
            raise ValueError(f"packed row has codec version {blob[0]}, expected {CODEC_VERSION}")
        row = list(fixed(blob, head))
        pos = head + size
        for i in inserts:
            (length,) = length_of(blob, pos)
            pos += 4
            row.insert(i, blob[pos : pos + length].decode())
            pos += length
        bitmap = int.from_bytes(blob[1:head], "little")
        if bitmap:
            for i in range(n):
                if bitmap >> i & 1:
                    row[i] = None
        for i in stamps:
            if row[i] is not None:
                row[i] = from_us(row[i])
        rows.append(row)
    return rows
