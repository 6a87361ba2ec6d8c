"""Monitoring context: the prediction log, reference profiles, drift, delayed labels.

The prediction log's write side (``PredictionLogWriter``, the sinks) is what serving
uses on its hot path, so it loads eagerly and stays light; everything else (numpy, scipy,
SQLAlchemy) loads on first use.

>>> from modelward.monitoring import build_profile, detect_drift
>>> report = detect_drift(build_profile(train), window_inputs)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelward._exports import lazy_exports
from modelward.monitoring.predictions import (
    PredictionLogWriter,
    PredictionRecord,
    PredictionSink,
    QuarantineFile,
    open_prediction_sink,
    open_workspace_log,
    prediction_table,
    quarantine_path,
    refusal_error,
    refused_fields,
)

if TYPE_CHECKING:
    from modelward.monitoring.alerts import (
        AlertChange,
        AlertPolicy,
        Condition,
        acknowledge_alert,
    )
    from modelward.monitoring.drift import DriftReport, DriftThresholds, FeatureDrift, detect_drift
    from modelward.monitoring.history import list_alerts, list_runs
    from modelward.monitoring.kpis import (
        KpiChange,
        KpiIngest,
        ingest_kpis,
        kpi_changes,
        kpi_names,
    )
    from modelward.monitoring.label_join import ingest_labels_by_entity
    from modelward.monitoring.labels import (
        LabelIngest,
        Performance,
        ingest_labels,
        realised_performance,
    )
    from modelward.monitoring.metrics import MonitoringCollector
    from modelward.monitoring.predictions.window import WINDOW_FIELDS
    from modelward.monitoring.profiles import (
        CategoricalProfile,
        NumericProfile,
        ReferenceProfile,
        build_profile,
    )
    from modelward.monitoring.references import (
        find_profile,
        get_profile,
        profile_digest,
        save_profile,
    )
    from modelward.monitoring.report import render_monitor_html, write_monitor_report
    from modelward.monitoring.runs import Finding, MonitorResult, get_run, latest_run, run_monitor
    from modelward.monitoring.schedules import MonitorTick, run_due_monitors
    from modelward.monitoring.usage import UsageReporter, UsageSample, system_figures
    from modelward.monitoring.webhooks import (
        WebhookSender,
        delivery_deadline_s,
        sender_from_settings,
    )
    from modelward.monitoring.webhooks import sign as sign_webhook

__all__ = [
    "WINDOW_FIELDS",
    "AlertChange",
    "AlertPolicy",
    "CategoricalProfile",
    "Condition",
    "DriftReport",
    "DriftThresholds",
    "FeatureDrift",
    "Finding",
    "KpiChange",
    "KpiIngest",
    "LabelIngest",
    "MonitorResult",
    "MonitorTick",
    "MonitoringCollector",
    "NumericProfile",
    "Performance",
    "PredictionLogWriter",
    "PredictionRecord",
    "PredictionSink",
    "QuarantineFile",
    "ReferenceProfile",
    "UsageReporter",
    "UsageSample",
    "WebhookSender",
    "acknowledge_alert",
    "build_profile",
    "delivery_deadline_s",
    "detect_drift",
    "find_profile",
    "get_profile",
    "get_run",
    "ingest_kpis",
    "ingest_labels",
    "ingest_labels_by_entity",
    "kpi_changes",
    "kpi_names",
    "latest_run",
    "list_alerts",
    "list_runs",
    "open_prediction_sink",
    "open_workspace_log",
    "prediction_table",
    "profile_digest",
    "quarantine_path",
    "realised_performance",
    "refusal_error",
    "refused_fields",
    "render_monitor_html",
    "run_due_monitors",
    "run_monitor",
    "save_profile",
    "sender_from_settings",
    "sign_webhook",
    "system_figures",
    "write_monitor_report",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "WINDOW_FIELDS": "predictions.window",
        "CategoricalProfile": "profiles",
        "NumericProfile": "profiles",
        "ReferenceProfile": "profiles",
        "build_profile": "profiles",
        "DriftReport": "drift",
        "DriftThresholds": "drift",
        "FeatureDrift": "drift",
        "detect_drift": "drift",
        "find_profile": "references",
        "get_profile": "references",
        "profile_digest": "references",
        "save_profile": "references",
        "LabelIngest": "labels",
        "KpiChange": "kpis",
        "KpiIngest": "kpis",
        "ingest_kpis": "kpis",
        "kpi_changes": "kpis",
        "kpi_names": "kpis",
        "Performance": "labels",
        "ingest_labels": "labels",
        "ingest_labels_by_entity": "label_join",
        "realised_performance": "labels",
        "Finding": "runs",
        "AlertChange": "alerts",
        "AlertPolicy": "alerts",
        "Condition": "alerts",
        "acknowledge_alert": "alerts",
        "list_alerts": "history",
        "list_runs": "history",
        "WebhookSender": "webhooks",
        "sign_webhook": "webhooks:sign",
        "sender_from_settings": "webhooks",
        "delivery_deadline_s": "webhooks",
        "MonitorResult": "runs",
        "get_run": "runs",
        "latest_run": "runs",
        "run_monitor": "runs",
        "MonitorTick": "schedules",
        "MonitoringCollector": "metrics",
        "run_due_monitors": "schedules",
        "render_monitor_html": "report",
        "UsageReporter": "usage",
        "UsageSample": "usage",
        "system_figures": "usage",
        "write_monitor_report": "report",
    },
)
