"""Retraining policies as code: ``[[retraining.policies]]`` in ``modelward.toml``.

A policy names the endpoint it watches, the model it retrains, the pipeline that trains it
(and, optionally, one that recalibrates it), the triggers that may start work, the checks
that judge a trigger before any work, a budget and the rollout strategies a candidate goes
through::

    [[retraining.policies]]
    name = "churn-monthly"
    endpoint = "churn"
    model = "churn"
    pipeline = "churn"
    window_days = 90
    window_params = {start = "train_from", end = "train_until"}
    triggers = {max_auc_drop = 0.03, schedule = "0 3 1 * *", upstream = ["customers"]}
    seasons = [{name = "black-friday", start = "11-20", end = "12-02"}]
    rollout = {steps = [10, 50, 100], interval_s = 300, min_sample = 1000}

A policy can never promote: there is no field for it, and a policy that tries (``promote``,
``auto_promote``, ``stage``, ``skip_gates``...) is refused with the reason, since the path to
Production is the stage policy's gates and approvals, the same as for a human's candidate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelward.cron import check_cron
from modelward.errors import ConfigError, InputError, NotFound

__all__ = [
    "Budget",
    "Checks",
    "RetrainPolicy",
    "Season",
    "Triggers",
    "find_policy",
    "load_policies",
]

#: keys that would let the loop skip a gate: refused with this reason, not as "unknown"
_PROMOTING_KEYS = ("promote", "auto_promote", "promote_to", "stage", "target_stage", "skip_gates")
_NO_PROMOTION = (
    "a retraining policy cannot promote or skip a gate: its candidate goes through the "
    "rollout strategies, then the stage policy's gates and approvals, like anyone's"
)
_MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Season(_Model):
    """A declared business cycle (inclusive, month-day, may wrap the year): drift inside it
    is expected and not by itself a reason to retrain."""

    name: str = Field(min_length=1, max_length=64)
    start: str = Field(pattern=_MONTH_DAY.pattern)
    end: str = Field(pattern=_MONTH_DAY.pattern)

    def contains(self, when: datetime) -> bool:
        day = when.strftime("%m-%d")
        if self.start <= self.end:
            return self.start <= day <= self.end
        return day >= self.start or day <= self.end  # wraps the new year


class Triggers(_Model):
    #: realised AUC of the serving version this far below its held-out AUC (labels)
    performance: bool = True
    max_auc_drop: float = Field(default=0.03, gt=0, le=1)
    #: a firing ``model_drift`` alert of the endpoint (monitoring's rule)
    drift_alerts: bool = True
    #: five-field cron (UTC): retrain on a calendar too; empty: never
    schedule: str = ""
    #: dataset names: a snapshot newer than the one the serving version was trained on
    upstream: list[str] = Field(default_factory=list)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not value:
            return value
        try:
            return check_cron(value)
        except InputError as exc:
            raise ValueError(exc.message) from None


class Checks(_Model):
    #: share of a window's predictions with a label before performance is believed
    min_label_coverage: float = Field(default=0.3, ge=0, le=1)
    #: hours labels usually take to arrive (said in a "wait" decision)
    expected_label_delay_h: float = Field(default=24.0, ge=0)
    #: consecutive monitor runs a performance fall must hold in (not a one-window spike)
    persistence: int = Field(default=2, ge=1, le=50)
    #: recalibration suffices when the AUC moved less than this from held out...
    recalibrate_auc_tolerance: float = Field(default=0.01, ge=0, le=1)
    #: ...and the calibration error (ECE) rose by at least this
    recalibrate_min_ece_rise: float = Field(default=0.03, gt=0, le=1)


class Budget(_Model):
    max_runs_per_day: int = Field(default=2, ge=0, le=1000)
    #: CPU seconds of runs started today (UTC), summed from their steps
    max_cpu_s: float = Field(default=4 * 3600.0, ge=0)


Strategy = Literal["shadow", "canary", "blue-green"]


def _shadow_then_canary() -> list[Strategy]:
    return ["shadow", "canary"]


class RetrainPolicy(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    endpoint: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    model: str = Field(min_length=1, max_length=128)
    #: the pipeline that trains and registers a candidate
    pipeline: str = Field(min_length=1, max_length=128)
    #: one that recalibrates the serving version; empty: "recalibrate" is recorded, not run
    recalibration_pipeline: str = ""
    #: the pipeline's output naming what it registered (``{"version", "accepted"}``)
    register_output: str = Field(default="register", min_length=1, max_length=128)
    #: parameter values the pipeline is run with, beside the training window
    params: dict[str, Any] = Field(default_factory=dict)
    #: the training window, ending when the run starts; stored with the episode
    window_days: float = Field(default=90.0, gt=0, le=3650)
    #: pipeline parameters that receive the window (ISO 8601), e.g. {start = "train_from"}
    window_params: dict[Literal["start", "end"], str] = Field(default_factory=dict)
    #: the recent labelled window a recalibration fits its calibrator on, ending at its start
    recalibration_window_days: float = Field(default=60.0, gt=0, le=3650)
    #: the recalibration pipeline's parameters for that window; empty: ``window_params``
    recalibration_window_params: dict[Literal["start", "end"], str] = Field(default_factory=dict)
    triggers: Triggers = Triggers()
    checks: Checks = Checks()
    budget: Budget = Budget()
    seasons: list[Season] = Field(default_factory=list)
    #: seconds after a run during which the same trigger is linked, not started again
    cooldown_s: float = Field(default=24 * 3600.0, ge=0)
    #: seconds a running episode may go without progress before it counts as abandoned
    #: (its process was killed) and frees the policy for the next trigger
    run_timeout_s: float = Field(default=6 * 3600.0, gt=0)
    #: the releases a candidate goes through, in order, each judged by the rollout controller
    strategies: list[Strategy] = Field(default_factory=_shadow_then_canary, min_length=1)
    #: the rollout policy of those releases (steps, interval, sample, metrics), as
    #: ``modelward rollout start --policy`` takes it; empty: the rollout defaults
    rollout: dict[str, Any] = Field(default_factory=dict)

    @field_validator("rollout")
    @classmethod
    def _rollout_policy(cls, value: dict[str, Any]) -> dict[str, Any]:
        from modelward.rollout import parse_policy

        try:
            parse_policy(value)
        except InputError as exc:
            raise ValueError(exc.message) from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _never_promotes(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key in _PROMOTING_KEYS:
                if key in data:
                    raise ValueError(f"{key}: {_NO_PROMOTION}")
        return data


def _located(index: int, exc: ValidationError) -> ConfigError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    place = f"retraining.policies[{index}]" + (f".{where}" if where else "")
    return ConfigError(f"{place}: {message}", field=place)


def load_policies(raw: Sequence[Mapping[str, Any]]) -> list[RetrainPolicy]:
    """The workspace's policies (``settings.retraining.policies``), checked; the first
    problem is raised as :class:`ConfigError` naming the policy and the field."""
    policies = []
    for i, table in enumerate(raw):
        try:
            policies.append(RetrainPolicy.model_validate(table))
        except ValidationError as exc:
            raise _located(i, exc) from None
    names = [p.name for p in policies]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(
                f"retraining.policies: the name {name!r} is used twice", field="retraining.policies"
            )
    return policies


def find_policy(policies: Sequence[RetrainPolicy], name: str) -> RetrainPolicy:
    for policy in policies:
        if policy.name == name:
            return policy
    known = ", ".join(p.name for p in policies) or "none"
    raise NotFound(f"no retraining policy named {name[:64]!r}; defined: {known}", policy=name[:64])
