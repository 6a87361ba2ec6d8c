"""Data context: dataset snapshots and data contracts.

>>> import modelward as mw
>>> snap = mw.data.snapshot("customers.parquet", name="customers",
...                         contract="contracts/customers.yaml")  # doctest: +SKIP
"""

from modelward.data.api import diff, get, list, read, scan, snapshot
from modelward.data.snapshots import SchemaDiff, Snapshot, get_snapshot, list_snapshots
from modelward.data.sources import Source, resolve_source

__all__ = [
    "SchemaDiff",
    "Snapshot",
    "Source",
    "diff",
    "get",
    "get_snapshot",
    "list",
    "list_snapshots",
    "read",
    "resolve_source",
    "scan",
    "snapshot",
]
