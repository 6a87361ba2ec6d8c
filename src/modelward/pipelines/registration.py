"""Registering a pipeline's chosen model: an ``mw.run`` with the pipeline's lineage.

The step ran in a worker process, so what the lineage seam would have collected in one
process (the snapshots and feature views the training set read) is noted again here from
the ``features`` step's record. The version's lineage names the pipeline run, its reference
profile (stored by monitoring for drift checks) and the content hash of the model, the
training set and the split, and it carries the metrics (overall and per segment), the
acceptance policy's result (``acceptance_passed`` for the registry's ``metric_above``
gate), the evaluation report and the golden set as artifacts.

Registering is idempotent: a model (by content hash) already registered for the same
training set returns that version instead of a second one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelward import lineage as seam
from modelward.pipelines.steps import StepContext

if TYPE_CHECKING:
    from modelward.monitoring import ReferenceProfile

__all__ = ["input_signature", "register_candidate"]

#: Python value types -> MLflow column types
_COLUMN_TYPES = {bool: "boolean", int: "long", float: "double", str: "string"}


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and k != "n"
    }


def input_signature(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Any:
    """The MLflow signature of a model fed ``columns``, typed from sample ``rows`` (the
    golden set); None when a column has no value to tell its type by.

    Built from the values rather than by ``mlflow.models.infer_signature``, which warns on
    every integer column and falls back to an untyped schema when warnings are errors.
    """
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, Schema, TensorSpec

    specs: list[ColSpec | TensorSpec] = []
    for column in columns:
        kinds = {type(row.get(column)) for row in rows} - {type(None)}
        if kinds == {int, float}:
            kinds = {float}
        if len(kinds) != 1 or (kind := _COLUMN_TYPES.get(kinds.pop())) is None:
            return None
        specs.append(ColSpec(kind, column))
    return ModelSignature(inputs=Schema(specs)) if specs else None


def register_candidate(
    ctx: StepContext,
    model_name: str,
    model: Any,
    evaluation: dict[str, Any],
    split_manifest: dict[str, Any],
    feature_lineage: dict[str, Any],
    evaluated_on: str,
    *,
    reference: ReferenceProfile | None = None,
    recalibrated: str | None = None,
) -> dict[str, Any]:
    """Register ``model`` with the run's lineage; ``recalibrated`` names the version it
    recalibrates (its calibrator fitted over that version's scores), kept in the lineage."""
    import mlflow

    from modelward import monitoring, registry

    session = ctx.session
    chosen = evaluation["chosen"]
    candidate = evaluation["candidates"][chosen]
    accepted = bool(evaluation["acceptance"]["passed"])
    model_hash = (ctx.stored_inputs.get("chosen_model") or {}).get("hash")
    same = _registered_already(session, model_name, model_hash, split_manifest.get("train_hash"))
    if same is not None:
        # the same model trained on the same rows (a rerun judged against a newer champion,
        # say): registering it again would make a second version of one model
        return {"version": same.ref, "accepted": accepted, "chosen": chosen, "reused": True}
    with registry.run(
        f"{ctx.pipeline}-{chosen}-{ctx.run_id[:8]}",
        session=session,
        split=split_manifest["logic"],
        seed=split_manifest["seed"],
        params={"trainer": chosen, "pipeline": ctx.pipeline},
        tags={"modelward.pipeline_run": ctx.run_id},
    ) as run:
        for view in feature_lineage.get("feature_views", []):
            seam.note_feature_view(
                seam.FeatureViewUse(
                    view["name"], view["definition_hash"], tuple(view.get("source_hashes", ()))
                )
            )
        for ds in feature_lineage.get("datasets", []):
            seam.note_dataset(
                seam.DatasetUse(
                    ds["snapshot_id"], ds["name"], int(ds["version"]), ds["content_hash"]
                )
            )
        overall = _numbers(candidate["overall"])
        overall["acceptance_passed"] = 1.0 if accepted else 0.0
        overall |= _fairness_metrics(candidate.get("fairness") or {})
        run.log_metrics(overall, dataset=evaluated_on)
        for column, values in candidate["segments"].items():
            for value, metrics in values.items():
                run.log_metrics(_numbers(metrics), segment=f"{column}:{value}")
        # the signature names and types the model's inputs: the gateway feeds it a
        # DataFrame of exactly those columns, and `request: from_signature` reads it
        run.log_model(
            model,
            signature=input_signature(
                evaluation["golden_set"]["rows"], feature_lineage.get("feature_columns") or []
            ),
        )
        mlflow.log_dict(evaluation, "modelward/evaluation.json")
        mlflow.log_dict(evaluation["golden_set"], "modelward/golden_set.json")
    assert run.record is not None
    # what the fairness and forbidden-input gates read (the registry's business gates)
    run.record.lineage["fairness"] = candidate.get("fairness") or None
    run.record.lineage["model_inputs"] = list(feature_lineage.get("feature_columns") or [])
    run.record.lineage["pipeline_run"] = {
        "id": ctx.run_id,
        "pipeline": ctx.pipeline,
        "model": ctx.stored_inputs.get("chosen_model"),
        "training_set_hash": split_manifest.get("train_hash"),
        "split": split_manifest,
        "acceptance": evaluation["acceptance"],
        "golden_set_hash": evaluation["golden_set"]["hash"],
    }
    if recalibrated is not None:
        run.record.lineage["recalibrated_from"] = {"version": recalibrated, "method": chosen}
    if reference is not None:
        run.record.lineage["reference_profile"] = {
            "digest": monitoring.profile_digest(reference),
            "rows": reference.rows,
            "features": sorted(reference.features),
        }
    version = registry.register(model_name, run, session=session)
    if reference is not None:
        # its own transaction: the registry's is closed; a failure here leaves a version
        # that says it has no reference (monitoring.get_profile), never a half-written one
        monitoring.save_profile(
            session, model_name, version.version, reference, actor=session.actor
        )
    return {"version": version.ref, "accepted": accepted, "chosen": chosen, "reused": False}


def _registered_already(
    session: Any, model_name: str, model_hash: str | None, train_hash: str | None
) -> Any:
    """The version of ``model_name`` a pipeline registered with this model and training set."""
    from modelward import registry
    from modelward.errors import NotFound

    if not model_hash or not train_hash:
        return None
    try:
        known = registry.list_versions(session, model_name, discover=False)
    except NotFound:
        return None
    for version in known:
        run = version.lineage.get("pipeline_run") or {}
        if (run.get("model") or {}).get("hash") == model_hash and (
            run.get("training_set_hash") == train_hash
        ):
            return version
    return None


def _fairness_metrics(fairness: dict[str, Any]) -> dict[str, float]:
    """``fairness.region.selection_rate_ratio`` and friends, for MLflow and metric gates."""
    out = {}
    for attribute, report in fairness.items():
        for key in (
            "selection_rate_ratio",
            "selection_rate_difference",
            "true_positive_rate_difference",
        ):
            value = report["overall"].get(key)
            if isinstance(value, int | float):
                out[f"fairness.{attribute}.{key}"] = float(value)
    return out
