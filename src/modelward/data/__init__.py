"""Data context: dataset snapshots and data contracts.

>>> import modelward as mw
>>> snap = mw.data.snapshot("customers.parquet", name="customers",
...                         contract="contracts/customers.yaml")  # doctest: +SKIP
>>> contract = mw.data.load_contract("customers.yaml")  # doctest: +SKIP
>>> report = mw.data.validate("export.csv", contract)  # doctest: +SKIP

Names load on first use: validating a file need not load the snapshot machinery (or
pyarrow), and snapshotting need not load the contract engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelward.data.api import diff, get, list, read, scan, snapshot
    from modelward.data.contracts import Contract, load_contract
    from modelward.data.inference import infer_contract
    from modelward.data.snapshots import SchemaDiff, Snapshot, get_snapshot, list_snapshots
    from modelward.data.sources import Source, resolve_source
    from modelward.data.validation import ValidationReport, validate

__all__ = [
    "Contract",
    "SchemaDiff",
    "Snapshot",
    "Source",
    "ValidationReport",
    "diff",
    "get",
    "get_snapshot",
    "infer_contract",
    "list",
    "list_snapshots",
    "load_contract",
    "read",
    "resolve_source",
    "scan",
    "snapshot",
    "validate",
]

_HOME = {
    "diff": "api",
    "get": "api",
    "list": "api",
    "read": "api",
    "scan": "api",
    "snapshot": "api",
    "Contract": "contracts",
    "load_contract": "contracts",
    "infer_contract": "inference",
    "SchemaDiff": "snapshots",
    "Snapshot": "snapshots",
    "get_snapshot": "snapshots",
    "list_snapshots": "snapshots",
    "Source": "sources",
    "resolve_source": "sources",
    "ValidationReport": "validation",
    "validate": "validation",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"modelward.data.{_HOME[name]}"), name)
    raise AttributeError(f"module 'modelward.data' has no attribute {name!r}")
