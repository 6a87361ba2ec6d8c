"""Alert rules of your own (``[[monitoring.rules]]``): a threshold on what a run measured.

The built-in rule (:mod:`~modelward.monitoring.alerts`) knows the seed's story, drift that
matters meeting a performance fall. Teams also page on plainer facts: p95 latency above a
budget, an error rate, a KPI falling while no input drifts, a feature's null rate. A rule
is ``<metric> <op> <number>`` over one monitor run::

    [[monitoring.rules]]
    name = "slow"
    when = "latency_ms.p95 > 250"
    persistence = 3

It is evaluated per model version in the window (``kpi.*`` and ``system.*`` once for the
endpoint: ``system.cpu_max > 0.8``, ``system.cost_per_1000 > 0.02``) and
becomes a :class:`~modelward.monitoring.alerts.Condition` of kind ``rule``, so it fires,
repeats and resolves through the same persistence, cooldown, audit entries and signed
webhook as the built-in rule. A metric the run could not measure (no labels yet, a feature
absent from the window, a KPI without enough events) does not hold: the run's notes say
which, so a rule that can never fire is visible instead of silently quiet.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from modelward.config import AlertRuleSettings
from modelward.monitoring.alerts import Condition

__all__ = ["rule_conditions", "rule_metric"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def rule_metric(
    metric: str,
    version: Mapping[str, Any] | None,
    kpis: Sequence[Mapping[str, Any]],
    system: Mapping[str, Any] | None = None,
) -> float | None:
    """The value of ``metric`` in one run: of ``version`` (a ``VersionResult`` dict), for
    ``kpi.<name>.<change|value>`` of the endpoint's KPIs, for ``system.<figure>`` of the
    gateway workers' figures (:func:`~modelward.monitoring.usage.system_figures`);
    ``None`` when unmeasured."""
    parts = metric.split(".")
    head = parts[0]
    if head == "system":
        return _number((system or {}).get(parts[1]))
    if head == "kpi":
        name, leaf = parts[1], parts[2]
        for k in kpis:
            if k.get("name") == name:
                return _number(k.get("change" if leaf == "change" else "window_mean"))
        return None
    if version is None:
        return None
    if head == "drifted_features":
        drift = version.get("drift") or {}
        return float(sum(1 for f in drift.get("features", []) if f.get("status") == "drift"))
    if head in ("latency_ms", "performance"):
        return _number((version.get(head) or {}).get(parts[1]))
    if head == "drift":
        feature, leaf = parts[1], parts[2]
        drift = version.get("drift") or {}
        for f in drift.get("features", []):
            if f.get("feature") == feature:
                return _number(f.get("effect" if leaf == "effect" else "null_rate_window"))
        return None
    return _number(version.get(head))


def _applies(rule: AlertRuleSettings, endpoint: str) -> bool:
    return not rule.endpoints or endpoint in rule.endpoints


def rule_conditions(
    rules: Sequence[AlertRuleSettings],
    endpoint: str,
    versions: Sequence[Mapping[str, Any]],
    kpis: Sequence[Mapping[str, Any]],
    system: Mapping[str, Any] | None = None,
) -> tuple[list[Condition], list[str]]:
    """The rules that hold in one run (as conditions) and notes on the ones that could not
    be measured."""
    found: list[Condition] = []
    notes: list[str] = []
    for rule in rules:
        if not _applies(rule, endpoint):
            continue
        compare = _OPS[rule.op]
        endpoint_wide = rule.metric.startswith(("kpi.", "system."))
        scopes: list[Mapping[str, Any] | None] = [None] if endpoint_wide else list(versions)
        for scope in scopes:
            value = rule_metric(rule.metric, scope, kpis, system)
            where = "" if scope is None else str(scope.get("version", ""))
            if value is None:
                notes.append(
                    f"rule {rule.name}: {rule.metric} not measured"
                    + (f" for version {where}" if where else "")
                )
                continue
            if not compare(value, rule.threshold):
                continue
            found.append(
                Condition(
                    "rule",
                    where,
                    [rule.metric.split(".")[1]] if rule.metric.startswith("drift.") else [],
                    f"{rule.name}: {rule.metric} = {value:.4g} {rule.op} {rule.threshold:g}"
                    + (f" (version {where})" if where else ""),
                    rule=rule.name,
                    persistence=rule.persistence,
                )
            )
    return found, notes
