"""The prediction log port: where every served prediction is kept for monitoring.

A sink stores :class:`PredictionRecord` batches. It is written only by the
:class:`~modelward.monitoring.predictions.writer.PredictionLogWriter` (a background thread,
never the request path) and read by monitoring, shadow analysis and delayed-label
evaluation. Every backend passes one shared test suite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["PredictionRecord", "PredictionSink", "refusal_error", "refused_fields"]


class PredictionRecord(NamedTuple):
    """One answered prediction row; ``inputs`` are already PII-redacted.

    A named tuple rather than a frozen dataclass: the gateway makes one per answered row
    on the request path, and a tuple is the cheapest immutable record to build.
    """

    request_id: str
    #: when the request arrived, microseconds since the epoch (UTC)
    at_us: int
    endpoint: str
    model: str
    model_version: str
    #: request fields and looked-up features after redaction, as the model saw them
    inputs: dict[str, Any]
    prediction: Any
    latency_ms: float
    degraded: bool
    #: which path answered: ``online``, ``batch``, ``async`` or ``stream``
    mode: str = "online"
    #: the model's part in a release: ``primary``, ``candidate`` (canary/blue-green),
    #: ``shadow`` (scored, never answered), ``fallback``, or ``rejected`` (refused by the
    #: gateway's request validation, a 422: no prediction, only the fields that were valid)
    role: str = "primary"
    #: the rollout this answer belongs to; empty outside a rollout
    release_id: str = ""
    #: why the row failed (a problem type or exception class), empty when it was answered
    error: str = ""


@runtime_checkable
class PredictionSink(Protocol):
    """What every prediction log backend provides."""

    @property
    def label(self) -> str:
        """Where the log is, for messages and metrics; never holds a password."""
        ...

    def write(self, records: Sequence[PredictionRecord]) -> None:
        """Append ``records``, all or none; raise :class:`~modelward.errors.StoreUnavailable`
        when the backend cannot be reached (the writer then retries the same batch)."""
        ...

    def write_table(self, endpoint: str, table: pa.Table) -> None:
        """Append the rows of ``table`` as records of ``endpoint``: the columnar write of
        batch scoring (the columns of :func:`~modelward.monitoring.predictions.table.
        prediction_table`, inputs already redacted).

        Stored as :meth:`write` stores the same records, so every read returns them
        alike. All or none (Redis: per chunk of rows, each chunk all or none); raise
        :class:`~modelward.errors.StoreUnavailable` when the backend cannot be reached. A
        retry of the same table after a failure adds no row twice.
        """
        ...

    def read(self, endpoint: str | None = None, limit: int | None = None) -> list[PredictionRecord]:
        """Records in the order they were written (of one ``endpoint`` when given)."""
        ...

    def read_window(
        self,
        endpoint: str,
        *,
        version: str | None = None,
        start_us: int | None = None,
        end_us: int | None = None,
        after: str | None = None,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """The records of ``endpoint`` in write order as an Arrow table (the shape is
        :mod:`~modelward.monitoring.predictions.window`'s).

        ``version`` keeps one model version; ``start_us <= at_us < end_us`` bounds the
        arrival time; ``after`` is a ``cursor`` value of an earlier window, and only rows
        written after it are returned; ``limit`` caps the row count (the last row's
        ``cursor`` then reads on). An unknown endpoint is an empty window, not an error.

        ``columns`` keeps only those columns, in that order (names of
        :data:`~modelward.monitoring.predictions.window.WINDOW_COLUMNS`; an unknown one is
        an :class:`~modelward.errors.InputError`): a reader of latency and status asks
        for those, and the backend then decodes no inputs or predictions.
        """
        ...

    def find_request_ids(self, endpoint: str, request_ids: Iterable[str]) -> set[str]:
        """Which of ``request_ids`` have a record of ``endpoint`` (delayed labels join on it)."""
        ...

    def prune(self, before_us: int) -> int:
        """Delete records that arrived before ``before_us`` (retention); returns how many."""
        ...

    def count(self, endpoint: str | None = None) -> int:
        """How many records are stored (of one ``endpoint`` when given)."""
        ...

    def close(self) -> None:
        """Release connections; the sink is not used afterwards."""
        ...


#: how a ``rejected`` row's error starts; the broken rules follow, ``; ``-separated
_REFUSAL = "RequestInvalid: "
#: a rejected row's error is cut to this many characters (the 422 response names them all)
_REFUSAL_CHARS = 300


def refusal_error(errors: Iterable[Mapping[str, Any]]) -> str:
    """The error of a ``rejected`` row: the first five rules validation found broken,
    ``RequestInvalid: inputs[0].tenure_months must be a 64-bit integer; ...``."""
    broken = "; ".join(f"{e['field']} {e['rule']}" for e in list(errors)[:5])
    return f"{_REFUSAL}{broken}"[:_REFUSAL_CHARS]


def refused_fields(error: str) -> list[str]:
    """The request fields a :func:`refusal_error` names (``tenure_months``), in order."""
    if not error.startswith(_REFUSAL):
        return []
    names = []
    for part in error.removeprefix(_REFUSAL).split("; "):
        where = part.split(" ", 1)[0]
        if where:
            names.append(where.rsplit(".", 1)[-1])
    return names
