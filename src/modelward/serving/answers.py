"""One request's answer, row by row: who answered each row, and why a row is degraded.

Fallbacks are per row. A row the model scored is answered by the endpoint's model; a row
that could not be scored (its entity has no fresh features, the model refused its
values) or every row of a request that could not be scored at all (the model is
unavailable, a breaker is open, the budget ran out) is answered by the fallback and
marked degraded with its reason. The answer document and the prediction-log records are
both made here, from the same per-row facts, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelward.monitoring import PredictionRecord

__all__ = ["FIXED_RESPONSE", "Answer"]

_REDACTED = "[redacted]"
#: model version recorded in the prediction log for an endpoint's fixed fallback response
FIXED_RESPONSE = "fallback-response"


@dataclass
class Answer:
    """Per row: the prediction, the inputs the model saw, what answered and why degraded."""

    predictions: list[Any]
    inputs: list[dict[str, Any]]
    #: per row, the model (name, version) that answered; version None: a fixed response
    sources: list[tuple[str, str | None]]
    #: per row, why it is degraded (None: the endpoint's model answered it)
    reasons: list[str | None]

    @property
    def degraded(self) -> bool:
        return any(r is not None for r in self.reasons)

    def source(self) -> tuple[str, str | None]:
        """The model named in the answer: the endpoint's model if it answered a row."""
        for (name, version), reason in zip(self.sources, self.reasons, strict=True):
            if reason is None:
                return name, version
        return self.sources[0]

    def payload(self, request_id: str, endpoint: str, batch: bool) -> dict[str, Any]:
        model, version = self.source()
        body: dict[str, Any] = {
            "request_id": request_id,
            "endpoint": endpoint,
            "model": model,
            "model_version": version,
            "degraded": self.degraded,
        }
        if self.degraded:
            body["reason"] = next(r for r in self.reasons if r is not None)
        if batch:
            body["predictions"] = self.predictions
            if self.degraded:
                body["degraded_rows"] = [
                    {"row": i, "reason": r} for i, r in enumerate(self.reasons) if r is not None
                ]
        else:
            body["prediction"] = self.predictions[0]
        return body

    def log(
        self,
        submit: Callable[[PredictionRecord], Any],
        *,
        request_id: str,
        at_us: int,
        endpoint: str,
        latency_ms: float,
        pii: list[str],
        role: str | None = None,
        release_id: str = "",
        mode: str = "online",
    ) -> None:
        """One prediction-log record per row, PII redacted.

        Outside a release a row the fallback answered has role ``fallback``; inside one
        (``role`` given: the arm that took the request) every row keeps its arm's role and
        degraded ones are marked ``degraded``, since the release's judge compares the arms'
        fallback rates. ``error`` stays empty: the row was answered."""
        many = len(self.predictions) > 1
        rows = zip(self.inputs, self.predictions, self.sources, self.reasons, strict=True)
        for i, (row, prediction, (model, version), reason) in enumerate(rows):
            if pii:
                row = {**row, **dict.fromkeys(pii, _REDACTED)}
            degraded = reason is not None
            submit(
                PredictionRecord(
                    f"{request_id}/{i}" if many else request_id,
                    at_us,
                    endpoint,
                    model,
                    version if version is not None else FIXED_RESPONSE,
                    row,
                    prediction,
                    latency_ms,
                    degraded,
                    mode=mode,
                    role=role or ("fallback" if degraded else "primary"),
                    release_id=release_id,
                )
            )
