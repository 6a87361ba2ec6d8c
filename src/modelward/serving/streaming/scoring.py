"""Scoring one micro-batch of events: the gateway's checks, then batch scoring's path.

Each event's body is decoded with the gateway's JSON rules and checked against the
request schema by batch scoring's vectorised check (:func:`~.batch_input.check_rows`: a
row that fails is judged by the gateway's own
:class:`~modelward.serving.schema.RequestSchema`), so an event is refused for exactly the
reasons an online request would be; fields of the event that are not request fields,
such as its timestamp, are left out. The rows that pass take batch scoring's path:
features from the same definitions (``batch_parts.PartFeatures``, online values, as the gateway
reads them), then the model loaded by the gateway's loader, fed the same
columns. An event that cannot be scored is a :class:`Refusal` naming the field and the
rule; the caller sends it to the dead-letter stream.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelward.errors import MalformedRequest, ModelUnavailable, RequestInvalid
from modelward.serving.batch_input import check_rows
from modelward.serving.batch_parts import PartFeatures as _Features
from modelward.serving.endpoints import EndpointSpec
from modelward.serving.models import LoadedModel
from modelward.serving.schema import RequestSchema, decode

__all__ = ["MicroBatchScorer", "Refusal", "Scored"]

_ARROW_TYPES: dict[str, pa.DataType] = {
    "float": pa.float64(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "string": pa.string(),
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the event at ``index`` of the batch was not scored."""

    index: int
    #: ``not_json``, ``schema`` or ``features``
    reason: str
    field: str
    rule: str


@dataclass(frozen=True, slots=True)
class Scored:
    """The outcome of one batch: a prediction per scored event, a refusal per other."""

    #: batch index of each scored event, in order
    indexes: list[int]
    predictions: list[Any]
    #: the scored events' logged inputs, a column per logged field (PII already
    #: redacted), in the same order: the prediction log's columnar write takes it as is
    inputs: pa.Table
    refusals: list[Refusal]
    #: model time per scored row, in milliseconds
    latency_ms: float


class MicroBatchScorer:
    """The checks, features and model call of one endpoint, for batches of event bodies."""

    def __init__(
        self,
        spec: EndpointSpec,
        model: LoadedModel,
        columns: list[str],
        features: _Features,
    ) -> None:
        assert not isinstance(spec.request, str)  # from_signature is refused before
        self.spec = spec
        self.model = model
        self.columns = columns
        self.features = features
        self.request = dict(spec.request)
        self.schema = RequestSchema(spec.name, self.request, max_rows=1)
        logged = [f for f in self.request if f not in columns] + columns
        self.logged = list(dict.fromkeys(logged))
        self.pii = frozenset(spec.pii_fields)

    def score(self, payloads: Sequence[bytes]) -> Scored:
        refusals: list[Refusal] = []
        rows: list[dict[str, Any]] = []
        indexes: list[int] = []
        for i, payload in enumerate(payloads):
            try:
                body = decode(payload)
            except MalformedRequest as exc:
                why = exc.message.replace("the request body", "the event")
                refusals.append(Refusal(i, "not_json", "body", why))
                continue
            if type(body) is not dict:
                refusals.append(Refusal(i, "not_json", "body", "must be a JSON object"))
                continue
            rows.append(body)
            indexes.append(i)
        if not rows:
            return Scored([], [], pa.table({}), refusals, 0.0)
        table = self._checked(rows, indexes, refusals)
        good, missing = self.features.add(table)
        refusals.extend(Refusal(index, "features", field, why) for index, field, why in missing)
        started = time.perf_counter()
        predictions = self._predict(good)
        latency_ms = (time.perf_counter() - started) * 1000 / max(good.num_rows, 1)
        scored = good.column("row_number").to_pylist()
        return Scored(scored, predictions, self._inputs(good), refusals, latency_ms)

    def _checked(
        self, rows: list[dict[str, Any]], indexes: list[int], refusals: list[Refusal]
    ) -> pa.Table:
        """The rows that pass the request schema, typed, with their batch index as
        ``row_number``; a refusal per broken rule of the others.

        Batch scoring's vectorised check (one conversion per column, the gateway's
        verdict only for the rows that fail) when every column converts to Arrow; one
        row at a time through the gateway's schema when a column mixes types.
        """
        names = self.request
        columns: dict[str, pa.Array] = {}
        try:
            for f in names:
                columns[f] = pa.array([r.get(f) for r in rows])
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
            return self._checked_one_by_one(rows, indexes, refusals)
        checked = check_rows(pa.table(columns), names, self.schema, 0, self.pii)
        good = checked.good
        numbers = pa.array(indexes, pa.int64())
        good = good.set_column(0, "row_number", pc.take(numbers, good.column("row_number")))
        if checked.rejected_rows:
            # the refused rows judged again as the events they were: an absent field and
            # a null one are one thing in a column, two rules to the gateway
            bad = sorted(set(checked.rejects.column("row_number").to_pylist()))
            self._checked_one_by_one([rows[i] for i in bad], [indexes[i] for i in bad], refusals)
        return good

    def _checked_one_by_one(
        self, rows: list[dict[str, Any]], indexes: list[int], refusals: list[Refusal]
    ) -> pa.Table:
        names = self.request
        passed: list[dict[str, Any]] = []
        numbers: list[int] = []
        for index, body in zip(indexes, rows, strict=True):
            row = {k: body[k] for k in names if k in body}
            try:
                self.schema.validate({"inputs": row})
            except RequestInvalid as exc:
                for error in exc.details.get("errors", []):
                    field = str(error["field"]).removeprefix("inputs.")
                    refusals.append(Refusal(index, "schema", field, str(error["rule"])))
                continue
            passed.append(row)
            numbers.append(index)
        return pa.table(
            {
                "row_number": pa.array(numbers, pa.int64()),
                **{
                    f: pa.array([r[f] for r in passed], _ARROW_TYPES[kind])
                    for f, kind in names.items()
                },
            }
        )

    def _predict(self, good: pa.Table) -> list[Any]:
        if good.num_rows == 0:
            return []
        # the matrix batch scoring feeds, built the same way
        matrix = np.column_stack(
            [good.column(c).to_numpy(zero_copy_only=False) for c in self.columns]
        ).astype(np.float64, copy=False)
        try:
            out = self.model.predict(matrix)
        except Exception as exc:
            # every event of the batch would fail alike: stop (they stay pending)
            raise ModelUnavailable(
                f"model {self.model.name}@{self.model.version} failed on a batch of "
                f"{good.num_rows} events: {type(exc).__name__}: {exc}",
                model=f"{self.model.name}@{self.model.version}",
            ) from None
        return list(out)

    def _inputs(self, good: pa.Table) -> pa.Table:
        redacted = pa.repeat(pa.scalar("[redacted]", pa.string()), good.num_rows)
        return pa.table(
            {name: redacted if name in self.pii else good.column(name) for name in self.logged}
        )
