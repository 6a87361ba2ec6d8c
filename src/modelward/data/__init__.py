"""Data context: dataset snapshots and data contracts.

This module is the context's public surface; other contexts import only from here.

>>> import modelward as mw
>>> snap = mw.data.snapshot("customers.parquet", name="customers",
...                         contract="contracts/customers.yaml")  # doctest: +SKIP
>>> contract = mw.data.load_contract("customers.yaml")  # doctest: +SKIP
>>> report = mw.data.validate("export.csv", contract)  # doctest: +SKIP

The notebook functions (``snapshot``, ``get``, ``list``, ``read``, ``scan``, ``diff``) take
an optional ``session``; the ``*_snapshot`` functions take it first, for other contexts.
Names load on first use: validating a file need not load the snapshot machinery (or
pyarrow), and snapshotting need not load the contract engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelward._exports import lazy_exports

if TYPE_CHECKING:
    from modelward.data.api import diff, get, list, read, scan, snapshot
    from modelward.data.contracts import Contract, load_contract, parse_duration
    from modelward.data.engine import connect, quote_ident, quote_literal
    from modelward.data.hashing import hash_batches
    from modelward.data.inference import infer_contract
    from modelward.data.snapshots import (
        SchemaDiff,
        Snapshot,
        content_hashes,
        diff_schemas,
        get_snapshot,
        list_snapshots,
        read_snapshot,
        scan_snapshot,
    )
    from modelward.data.sources import Source, resolve_source
    from modelward.data.validation import ValidationReport, jsonable, validate

__all__ = [
    "Contract",
    "SchemaDiff",
    "Snapshot",
    "Source",
    "ValidationReport",
    "connect",
    "content_hashes",
    "diff",
    "diff_schemas",
    "get",
    "get_snapshot",
    "hash_batches",
    "infer_contract",
    "jsonable",
    "list",
    "list_snapshots",
    "load_contract",
    "parse_duration",
    "quote_ident",
    "quote_literal",
    "read",
    "read_snapshot",
    "resolve_source",
    "scan",
    "scan_snapshot",
    "snapshot",
    "validate",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "diff": "api",
        "get": "api",
        "list": "api",
        "read": "api",
        "scan": "api",
        "snapshot": "api",
        "Contract": "contracts",
        "load_contract": "contracts",
        "parse_duration": "contracts",
        "connect": "engine",
        "quote_ident": "engine",
        "quote_literal": "engine",
        "hash_batches": "hashing",
        "infer_contract": "inference",
        "SchemaDiff": "snapshots",
        "Snapshot": "snapshots",
        "content_hashes": "snapshots",
        "diff_schemas": "snapshots",
        "get_snapshot": "snapshots",
        "list_snapshots": "snapshots",
        "read_snapshot": "snapshots",
        "scan_snapshot": "snapshots",
        "Source": "sources",
        "resolve_source": "sources",
        "ValidationReport": "validation",
        "jsonable": "validation",
        "validate": "validation",
    },
)
