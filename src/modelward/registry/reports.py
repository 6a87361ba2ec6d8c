"""Answers about a version: its full lineage report, and the diff of two versions' lineage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from modelward.registry import discovery, versions
from modelward.registry.approvals import approvals_for, authors_of
from modelward.registry.lineage import diff
from modelward.registry.tables import registered_models, stage_transitions

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["lineage_diff", "lineage_report", "report_rows"]


def lineage_report(session: Session, ref: str) -> dict[str, Any]:
    """Every question of the design's lineage list, answered for one version."""
    name, which = versions.parse_ref(ref)
    discovery.get_version(session, (name, which))  # discovers a plain-MLflow version
    with session.store.read() as conn:
        version = versions._get(conn, name, which)
        model = conn.execute(
            select(registered_models).where(registered_models.c.name == name)
        ).one()
        policy = model.approval_policy or {}
        authors = authors_of(version)
        approval_status = {}
        for stage in ("Staging", "Production"):
            given = [a.to_dict() for a in approvals_for(conn, name, version.version, stage)]
            valid = {a["approver"] for a in given if a["approver"] not in authors}
            approval_status[stage] = {
                "required": int(policy.get(stage, 0)),
                "given": given,
                "satisfied": len(valid) >= int(policy.get(stage, 0)),
            }
        transitions = [
            dict(r._mapping)
            for r in conn.execute(
                select(stage_transitions)
                .where(
                    stage_transitions.c.model_name == name,
                    stage_transitions.c.version == version.version,
                )
                .order_by(stage_transitions.c.id)
            )
        ]
    lin = version.lineage
    return {
        "ref": version.ref,
        "stage": version.stage,
        "source": version.source,
        "lineage_complete": version.lineage_complete,
        "lineage_missing": version.lineage_missing,
        "model_artifact": lin.get("model_artifact"),
        "datasets": lin.get("datasets"),
        "feature_views": lin.get("feature_views"),
        "params": lin.get("params"),
        "metrics": lin.get("metrics"),
        "evaluation": lin.get("evaluation"),
        "split": lin.get("split"),
        "environment": lin.get("environment"),
        "git": lin.get("git"),
        "resources": lin.get("resources"),
        "pipeline_run": lin.get("pipeline_run"),
        "run_id": version.run_id,
        "author": lin.get("author"),
        "registered_by": version.created_by,
        "registered_at": version.created_at,
        "approvals": approval_status,
        "transitions": transitions,
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return "\n".join(str(v) for v in value) or "none"
    return str(value)


def report_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The report as (question, answer) rows for a table."""
    art = report["model_artifact"] or {}
    env = report["environment"] or {}
    git = report["git"] or {}
    split = report["split"] or {}
    metrics = report["metrics"] or {}
    missing = report["lineage_missing"]
    datasets = report["datasets"]
    views = report["feature_views"]
    rows = [
        ("lineage", "complete" if not missing else f"INCOMPLETE: missing {', '.join(missing)}"),
        ("stage", report["stage"]),
        ("model artifact", _fmt(art.get("uri"))),
        (
            "dataset snapshots",
            _fmt(
                None
                if datasets is None
                else [
                    f"{d['name']}@{d['version']} {d['snapshot_id']} {d['content_hash']}"
                    for d in datasets
                ]
            ),
        ),
        (
            "feature views",
            _fmt(None if views is None else [f"{f['name']} {f['definition_hash']}" for f in views]),
        ),
        ("hyperparameters", _fmt(report["params"])),
        ("metrics (overall)", _fmt(metrics.get("overall"))),
        (
            "metrics (segments)",
            _fmt([f"{s}: {_fmt(v)}" for s, v in (metrics.get("segments") or {}).items()]),
        ),
        ("evaluated on", _fmt((report["evaluation"] or {}).get("content_hash"))),
        ("split logic", _fmt(split.get("logic"))),
        ("split seed", _fmt(split.get("seed"))),
        ("python", _fmt(env.get("python"))),
        (
            "locked packages",
            "unknown"
            if not env.get("packages")
            else f"{len(env['packages'])} packages, {env.get('packages_hash')}",
        ),
        ("git commit", _fmt(git.get("commit")) + (" (dirty)" if git.get("dirty") else "")),
        ("pipeline run", report["pipeline_run"] or "none (trained outside a pipeline)"),
        ("mlflow run", _fmt(report["run_id"])),
        ("author", _fmt(report["author"])),
        ("registered by", f"{report['registered_by']} at {report['registered_at']:%Y-%m-%d %H:%M}"),
    ]
    for stage, status in report["approvals"].items():
        who = ", ".join(a["approver"] for a in status["given"]) or "none"
        rows.append(
            (f"approvals for {stage}", f"{len(status['given'])}/{status['required']} ({who})")
        )
    for t in report["transitions"]:
        gates = "; ".join(
            f"{g['gate']}: {'pass' if g['passed'] else 'FAIL'}" for g in t["gate_results"]
        )
        line = f"{t['at']:%Y-%m-%d %H:%M} {t['actor']}: {t['from_stage']} -> {t['to_stage']}"
        line += f" ({t['kind']}) because {t['reason']!r}"
        if gates:
            line += f"; gates: {gates}"
        if t["override_reason"]:
            line += f"; OVERRIDE: {t['override_reason']}"
        rows.append(("transition", line))
    return rows


def lineage_diff(session: Session, old_ref: str, new_ref: str) -> dict[str, Any]:
    old = discovery.get_version(session, old_ref)
    new = discovery.get_version(session, new_ref)
    changes = diff(old.lineage, new.lineage)
    return {"old": old.ref, "new": new.ref, "changes": [c.to_dict() for c in changes]}
