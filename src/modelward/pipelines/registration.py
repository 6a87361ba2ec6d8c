"""Registering a pipeline's chosen model: an ``mw.run`` with the pipeline's lineage.

The step ran in a worker process, so what the lineage seam would have collected in one
process (the snapshots and feature views the training set read) is noted again here from
the ``features`` step's record. The version's lineage names the pipeline run and the
content hash of the model, the training set and the split, and it carries the metrics
(overall and per segment), the acceptance policy's result (``acceptance_passed`` for the
registry's ``metric_above`` gate), the evaluation report and the golden set as artifacts.
"""

from __future__ import annotations

import math
from typing import Any

from modelward import lineage as seam
from modelward.pipelines.steps import StepContext

__all__ = ["register_candidate"]


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and k != "n"
    }


def register_candidate(
    ctx: StepContext,
    model_name: str,
    model: Any,
    evaluation: dict[str, Any],
    split_manifest: dict[str, Any],
    feature_lineage: dict[str, Any],
    evaluated_on: str,
) -> dict[str, Any]:
    import mlflow

    from modelward import registry

    session = ctx.session
    chosen = evaluation["chosen"]
    candidate = evaluation["candidates"][chosen]
    accepted = bool(evaluation["acceptance"]["passed"])
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
        run.log_metrics(overall, dataset=evaluated_on)
        for column, values in candidate["segments"].items():
            for value, metrics in values.items():
                run.log_metrics(_numbers(metrics), segment=f"{column}:{value}")
        run.log_model(model)
        mlflow.log_dict(evaluation, "modelward/evaluation.json")
        mlflow.log_dict(evaluation["golden_set"], "modelward/golden_set.json")
    assert run.record is not None
    run.record.lineage["pipeline_run"] = {
        "id": ctx.run_id,
        "pipeline": ctx.pipeline,
        "model": ctx.stored_inputs.get("chosen_model"),
        "training_set_hash": split_manifest.get("train_hash"),
        "split": split_manifest,
        "acceptance": evaluation["acceptance"],
        "golden_set_hash": evaluation["golden_set"]["hash"],
    }
    version = registry.register(model_name, run, session=session)
    return {"version": version.ref, "accepted": accepted, "chosen": chosen}
