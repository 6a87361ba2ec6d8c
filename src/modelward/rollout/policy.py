"""The rollout policy: the steps a canary climbs and the metrics the judge compares.

A policy is a YAML or JSON file (``--policy FILE``) or the defaults below. Every bad field
is named with the rule it breaks (``steps.2: 40 is not above the step before it (50)``).

.. code-block:: yaml

    steps: [5, 25, 50, 100]      # percent of traffic on the candidate, step by step
    interval_s: 60               # the controller looks every interval; a step lasts one at least
    min_sample: 500              # rows per arm in a window before a metric can be judged
    alpha: 0.01                  # family-wise false-alarm rate per analysis (Holm)
    metrics:
      - {metric: error_rate, tolerance: 0}       # absolute rate increase allowed
      - {metric: fallback_rate, tolerance: 0}
      - {metric: latency, tolerance: 5}          # milliseconds added allowed
      - {metric: score, tolerance: 0.05}         # |P(candidate > baseline) - 0.5| allowed
      # also: latency_p95 / latency_p99 (milliseconds added to that quantile allowed,
      # default 10 / 20) and segment_score (the score test per value of an input field:
      # {metric: segment_score, segment: plan, tolerance: 0.1})
    inconclusive_deadline_s: 900  # then on_deadline decides
    on_deadline: rollback         # rollback | hold | advance
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelward.errors import InputError

__all__ = [
    "DEFAULT_METRICS",
    "KNOWN_METRICS",
    "LABEL_METRICS",
    "MetricRule",
    "RolloutPolicy",
    "parse_policy",
]

#: metrics the judge computes from the prediction log alone
LOG_METRICS = (
    "error_rate",
    "fallback_rate",
    "latency",
    "latency_p95",
    "latency_p99",
    "score",
    "segment_score",
)
#: metrics that need delayed labels or business KPIs (the monitoring context builds them);
#: until they exist the judge reports them ``unavailable``, never ``pass``
LABEL_METRICS = ("realised_performance", "kpi")
KNOWN_METRICS = LOG_METRICS + LABEL_METRICS

#: each metric's default tolerance, in its own unit (see the module docstring)
DEFAULT_TOLERANCE: dict[str, float] = {
    "error_rate": 0.0,
    "fallback_rate": 0.0,
    "latency": 5.0,
    "latency_p95": 10.0,
    "latency_p99": 20.0,
    "score": 0.05,
    "segment_score": 0.1,
    "realised_performance": 0.0,
    "kpi": 0.0,
}
DEFAULT_METRICS = ("error_rate", "fallback_rate", "latency", "score")


class MetricRule(BaseModel):
    """One metric the judge compares, candidate against baseline, on the same window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    #: how much worse the candidate may be before it fails; ``None``: the metric's default
    tolerance: float | None = Field(default=None, ge=0)
    #: ``segment_score`` only: the input field whose values are compared one by one
    segment: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _segment_where_needed(self) -> MetricRule:
        if self.metric == "segment_score" and self.segment is None:
            raise ValueError("segment_score needs segment: the input field to break scores by")
        if self.metric != "segment_score" and self.segment is not None:
            raise ValueError(f"segment: only segment_score takes one, not {self.metric}")
        return self

    @property
    def label(self) -> str:
        """How the metric is named in an analysis (``segment_score:plan``)."""
        return f"{self.metric}:{self.segment}" if self.segment else self.metric

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in KNOWN_METRICS:
            raise ValueError(
                f"{value[:40]!r} is not a metric; use one of {', '.join(KNOWN_METRICS)}"
            )
        return value

    @property
    def allowed(self) -> float:
        return DEFAULT_TOLERANCE[self.metric] if self.tolerance is None else self.tolerance


def _default_rules() -> list[MetricRule]:
    return [MetricRule(metric=m) for m in DEFAULT_METRICS]


class RolloutPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: canary weights in percent, strictly increasing, each in (0, 100]
    steps: list[float] = Field(default_factory=lambda: [5.0, 25.0, 50.0, 100.0], min_length=1)
    interval_s: float = Field(default=60.0, gt=0, le=86_400)
    min_sample: int = Field(default=500, ge=10, le=10_000_000)
    alpha: float = Field(default=0.01, gt=0, lt=0.5)
    metrics: list[MetricRule] = Field(default_factory=_default_rules, min_length=1)
    inconclusive_deadline_s: float = Field(default=900.0, gt=0)
    on_deadline: Literal["rollback", "hold", "advance"] = "rollback"
    #: percent of requests a shadow candidate scores
    shadow_percent: float = Field(default=100.0, gt=0, le=100)
    #: request field keying the sticky hash; default: the endpoint's first entity key
    sticky_by: str | None = None

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: list[float]) -> list[float]:
        for i, weight in enumerate(steps):
            if not 0 < weight <= 100:
                raise ValueError(f"step {i}: {weight} is outside 0 (exclusive) .. 100")
            if i and weight <= steps[i - 1]:
                raise ValueError(
                    f"step {i}: {weight} is not above the step before it ({steps[i - 1]})"
                )
        return steps

    @field_validator("metrics")
    @classmethod
    def _unique(cls, rules: list[MetricRule]) -> list[MetricRule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.label in seen:
                raise ValueError(f"{rule.label} is listed twice")
            seen.add(rule.label)
        return rules

    @property
    def segment_fields(self) -> tuple[str, ...]:
        """The input fields the judge breaks scores down by."""
        return tuple(r.segment for r in self.metrics if r.segment is not None)


def parse_policy(data: Any) -> RolloutPolicy:
    """Validate a policy mapping (``None``: the defaults); errors name each bad field."""
    if data is None:
        return RolloutPolicy()
    if not isinstance(data, dict):
        raise InputError("policy: expected a mapping of policy fields", field="policy")
    try:
        return RolloutPolicy.model_validate(data)
    except ValidationError as exc:
        parts, first = [], None
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "policy"
            first = first or f"policy.{where}"
            parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        raise InputError("invalid rollout policy: " + "; ".join(parts), field=first) from None
