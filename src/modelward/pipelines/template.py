"""The supervised tabular template: a ready pipeline users fill in with their data and models.

``extract`` (snapshot every dataset) -> ``validate`` (each against its data contract; a
violation stops the run, fail closed) -> ``features`` (point-in-time training set on the
labelled spine, only labels already known at ``as_of``) -> ``split`` (time-based or seeded
random, stored) -> ``train_<name>`` (one step per trainer) -> ``champion`` (the current
Production model) -> ``evaluate`` (all candidates and the champion on the same held-out
rows, acceptance policy, report, golden set) -> ``register`` (with full lineage) ->
optional ``release`` (your hook: request an approval, trigger a deployment).

Only ``extract`` reads the outside world, once, at the start: it snapshots the datasets
and pins everything else the run will read (the snapshots behind the feature views, the
feature definitions and contracts by hash, ``as_of``, the champion's version). It runs
every time; every other step is cached on the content hashes of what it reads, so a rerun
on unchanged inputs trains nothing and registers nothing new, and a run can never mix a
snapshot taken by someone else half-way through.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from modelward.errors import CheckFailed, Conflict, ContractViolation, InputError, NotFound
from modelward.pipelines.evaluation import (
    GAIN_METRICS,
    AcceptancePolicy,
    evaluate,
    gain_interval,
    golden_set,
)
from modelward.pipelines.graph import Pipeline
from modelward.pipelines.params import Param
from modelward.pipelines.recalibration import Method, calibrate_step
from modelward.pipelines.splits import split_table
from modelward.pipelines.steps import Step, StepContext, step

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["Dataset", "Trainer", "request_promotion", "supervised_tabular"]

#: ``trainer(X, y, seed) -> fitted model`` with ``predict_proba``; X is a pandas DataFrame
Trainer = Callable[[Any, Any, int], Any]


@dataclass(frozen=True)
class Dataset:
    """A source file (relative to the workspace root) and its data contract, if any."""

    source: str
    contract: str | None = None


def _source_hash(fn: Callable[..., Any]) -> str:
    """The function's source plus the simple values it closes over (a hook's stage)."""
    try:
        text = inspect.getsource(fn)
    except (OSError, TypeError):
        text = repr(getattr(fn, "__code__", fn))
    cells = [c.cell_contents for c in getattr(fn, "__closure__", None) or ()]
    text += repr([v for v in cells if isinstance(v, str | int | float | bool)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _as_of(text: str, param: str = "as_of") -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"parameter {param!r}: not an ISO time: {text!r}", param=param) from None
    if value.tzinfo is None:
        raise InputError(f"parameter {param!r}: give a time zone, e.g. +00:00", param=param)
    return value


def _xy(table: pa.Table, columns: Sequence[str], label: str) -> tuple[Any, Any]:
    frame = table.select(list(columns)).to_pandas()
    return frame, table.column(label).to_numpy(zero_copy_only=False).astype(int)


def _held_out_metrics(evaluation: dict[str, Any]) -> dict[str, float]:
    """The chosen candidate's overall held-out metrics that are plain numbers."""
    overall = evaluation["candidates"][evaluation["chosen"]]["overall"]
    return {
        k: float(v)
        for k, v in overall.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _production(session: Session, model_name: str) -> Any:
    from modelward.registry import get_version

    try:
        return get_version(session, f"{model_name}@production")
    except NotFound:
        return None


def supervised_tabular(
    name: str,
    *,
    datasets: Mapping[str, Dataset],
    spine: str,
    label: str,
    entity_key: str,
    timestamp: str,
    features: Sequence[str],
    trainers: Mapping[str, Trainer],
    model_name: str,
    segments: Sequence[str] = (),
    sensitive: Sequence[str] = (),
    label_available_at: str | None = None,
    policy: AcceptancePolicy | None = None,
    golden_per_segment: int = 3,
    as_of: str = "",
    split: str = "time",
    test_fraction: float = 0.2,
    seed: int = 7,
    on_registered: Callable[[StepContext, dict[str, Any]], Any] | None = None,
    description: str = "",
    recalibrate: Method | None = None,
) -> Pipeline:
    """Build the template pipeline. Assign it to a module-level name in ``pipelines.py``.

    ``spine`` names the dataset of labelled events (``entity_key``, ``timestamp``,
    ``label`` and, for delayed labels, ``label_available_at``); ``features`` are feature
    references resolved by the workspace's feature definitions; ``segments`` are columns
    of the training set reported separately (e.g. plan, region); ``sensitive`` are columns
    (of the spine or features) across whose groups the evaluation measures selection-rate
    and true-positive-rate parity, judged by the policy's fairness thresholds.

    ``recalibrate`` ("isotonic" or "sigmoid") builds a recalibration pipeline instead: no
    trainer, the Production model with a calibrator fitted on the labelled rows of a
    window (parameter ``window_from`` to ``as_of``), judged against the champion on the
    window's held-out rows and registered with the champion in its lineage
    (:mod:`~modelward.pipelines.recalibration`).
    """
    if spine not in datasets:
        raise InputError(f"template {name!r}: spine {spine!r} is not one of the datasets")
    if not trainers and recalibrate is None:
        raise InputError(f"template {name!r}: give at least one trainer")
    accept = policy or AcceptancePolicy()
    module = sys._getframe(1).f_globals.get("__name__")

    @step(cache=False, outputs=("extract", "inputs", "champion_ref"))
    def extract(as_of: str, ctx: StepContext) -> tuple[dict[str, Any], dict[str, Any], str | None]:
        """Resolve every input of the run once, to content hashes: snapshot each dataset
        (the same content gives the same snapshot), pin the snapshots behind the feature
        views, the contracts, ``as_of`` and the champion. Every later step reads only these,
        so it is cached on them: a rerun on the same inputs recomputes nothing."""
        from modelward.data import load_contract, snapshot
        from modelward.features import resolve_inputs

        root = ctx.session.workspace.root
        out: dict[str, Any] = {}
        taken: dict[str, str] = {}
        for ds_name, ds in sorted(datasets.items()):
            snap = snapshot(root / ds.source, name=ds_name, session=ctx.session)
            taken[ds_name] = snap.id
            out[ds_name] = {
                "ref": snap.ref,
                "id": snap.id,
                "content_hash": snap.content_hash,
                "rows": snap.row_count,
                "contract_hash": (
                    load_contract(root / ds.contract).content_hash() if ds.contract else None
                ),
            }
        # a view on SnapshotSource("labels") reads the snapshot taken above, never a later one
        inputs = resolve_inputs(
            list(features),
            session=ctx.session,
            snapshots=taken,
        )
        inputs["as_of"] = _as_of(as_of).isoformat()
        prod = _production(ctx.session, model_name)
        return out, inputs, prod.ref if prod is not None else None

    @step
    def validate(
        extract: dict[str, Any], inputs: dict[str, Any], ctx: StepContext
    ) -> dict[str, Any]:
        """Check each snapshot against its contract; any violation stops the run."""
        from modelward.data import get_snapshot, load_contract
        from modelward.data import validate as check

        root = ctx.session.workspace.root
        reports = {}
        for ds_name, ds in sorted(datasets.items()):
            if ds.contract is None:
                continue
            contract = load_contract(root / ds.contract)
            if contract.content_hash() != extract[ds_name]["contract_hash"]:
                raise InputError(
                    f"contract {ds.contract} changed while the run was going; run again",
                    path=ds.contract,
                )
            snap = get_snapshot(ctx.session, extract[ds_name]["id"])
            report = check(
                snap.path,
                contract,
                as_of=datetime.fromisoformat(inputs["as_of"]),
                settings=ctx.session.workspace.settings.data,
            )
            reports[ds_name] = report.to_dict()
        failed = {k: r for k, r in reports.items() if not r["passed"]}
        if failed:
            rules = [
                f"{k}: {r['rule']}"
                for k, rep in failed.items()
                for r in rep["results"]
                if not r["passed"]
            ]
            raise ContractViolation(
                f"dataset(s) {', '.join(failed)} violate their data contract "
                f"({len(rules)} rule(s) failed: {', '.join(rules[:8])}); the run stops here",
                report=failed,
            )
        return {
            k: {"passed": True, "rules": r["rules"], "contract_hash": r["contract_hash"]}
            for k, r in reports.items()
        }

    def point_in_time(
        extract: dict[str, Any], inputs: dict[str, Any], ctx: StepContext, window_from: str
    ) -> tuple[pa.Table, dict[str, Any]]:
        from modelward.data import read_snapshot
        from modelward.features import training_set

        labels = read_snapshot(ctx.session, extract[spine]["id"])
        if label_available_at is not None:
            cutoff = pa.scalar(datetime.fromisoformat(inputs["as_of"]))
            labels = labels.filter(pc.less_equal(labels.column(label_available_at), cutoff))
        if window_from:
            start = pa.scalar(
                _as_of(window_from, "window_from"), labels.schema.field(timestamp).type
            )
            labels = labels.filter(pc.greater_equal(labels.column(timestamp), start))
        keep = [entity_key, timestamp, label] + [
            s for s in dict.fromkeys([*segments, *sensitive]) if s in labels.column_names
        ]
        with training_set(
            labels.select(keep),
            list(features),
            session=ctx.session,
            timestamp_column=timestamp,
            snapshots=inputs["snapshots"],
        ) as ts:
            table = ts.to_arrow()
            lineage = ts.lineage_dict()
            columns = ts.feature_columns
        changed = [
            v["name"]
            for v in lineage["feature_views"]
            if v["definition_hash"] != (inputs["views"].get(v["name"]) or {}).get("definition_hash")
        ]
        if changed:
            raise InputError(
                f"feature view(s) {', '.join(changed)} changed while the run was going; run again",
                view=changed[0],
            )
        table = table.sort_by([(timestamp, "ascending"), (entity_key, "ascending")])
        spine_use = {
            "snapshot_id": extract[spine]["id"],
            "content_hash": extract[spine]["content_hash"],
        }
        name_, _, version = extract[spine]["ref"].partition("@")
        spine_use |= {"name": name_, "version": int(version)}
        lineage["datasets"] = [
            spine_use,
            *[d for d in lineage["datasets"] if d["snapshot_id"] != spine_use["snapshot_id"]],
        ]
        lineage["feature_columns"] = columns
        return table, lineage

    if recalibrate is None:

        @step(
            name="features",
            outputs=("training_set", "feature_lineage"),
            version=_source_hash(point_in_time),
        )
        def features_(
            extract: dict[str, Any],
            validate: dict[str, Any],
            inputs: dict[str, Any],
            ctx: StepContext,
        ) -> tuple[pa.Table, dict[str, Any]]:
            """Point-in-time join of the features onto the labels known at ``as_of``,
            reading exactly the snapshots ``extract`` pinned."""
            return point_in_time(extract, inputs, ctx, "")

    else:

        @step(
            name="features",
            outputs=("training_set", "feature_lineage"),
            version=_source_hash(point_in_time),
        )
        def features_(
            extract: dict[str, Any],
            validate: dict[str, Any],
            inputs: dict[str, Any],
            window_from: str,
            ctx: StepContext,
        ) -> tuple[pa.Table, dict[str, Any]]:
            """The same join, on the labels of the window only (``window_from`` on)."""
            return point_in_time(extract, inputs, ctx, window_from)

    @step(name="split", outputs=("train", "test", "split_manifest"))
    def split_(
        training_set: pa.Table, split: str, test_fraction: float, seed: int
    ) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
        """Split explicitly; both parts are stored and their hashes recorded."""
        return split_table(
            training_set,
            kind=split,
            test_fraction=test_fraction,
            seed=seed,
            timestamp=timestamp,
            key=entity_key,
        )

    train_steps = (
        [_train_step(t_name, fn, label) for t_name, fn in trainers.items()]
        if recalibrate is None
        else [calibrate_step(recalibrate, label)]
    )

    @step(outputs=("champion_model", "champion_info"))
    def champion(champion_ref: str | None, ctx: StepContext) -> tuple[Any, dict[str, Any]]:
        """The Production model when the run started, if any (a version's model is
        immutable, so this is cached on its reference)."""
        from modelward.pipelines.cache import StoredValue
        from modelward.pipelines.engine import objects_of
        from modelward.registry import get_version

        if champion_ref is None:
            return None, {"ref": None}
        prod = get_version(ctx.session, champion_ref)
        stored = (prod.lineage.get("pipeline_run") or {}).get("model")
        if stored:
            return objects_of(ctx.session).get(StoredValue.from_dict(stored)), {"ref": prod.ref}
        import mlflow

        from modelward.registry import using_workspace

        with using_workspace(ctx.session.workspace):
            return mlflow.sklearn.load_model(prod.model_uri), {"ref": prod.ref}

    evaluate_step = _evaluate_step(
        name,
        [t.outputs[0] for t in train_steps],
        label,
        entity_key,
        timestamp,
        segments,
        accept,
        golden_per_segment,
        sensitive,
    )

    @step(side_effects=True, version=model_name)
    def register(
        chosen_model: Any,
        evaluation: dict[str, Any],
        report: dict[str, Any],
        split_manifest: dict[str, Any],
        feature_lineage: dict[str, Any],
        extract: dict[str, Any],
        train: pa.Table,
        test: pa.Table,
        ctx: StepContext,
    ) -> dict[str, Any]:
        """Register the chosen candidate with its lineage, metrics, acceptance result and
        reference profile (the training rows' distributions, the held-out predictions,
        the model's feature importance), then name it by its version in the report."""
        from pathlib import Path

        from modelward.monitoring import build_profile
        from modelward.pipelines.registration import register_candidate
        from modelward.pipelines.report import name_candidate

        columns = feature_lineage["feature_columns"]
        x_test, _ = _xy(test, columns, label)
        reference = build_profile(
            train,
            features=columns,
            predictions=chosen_model.predict_proba(x_test)[:, 1],
            model=chosen_model,
            held_out=x_test,
            metrics=_held_out_metrics(evaluation),
        )
        registered = register_candidate(
            ctx,
            model_name,
            chosen_model,
            evaluation,
            split_manifest,
            feature_lineage,
            extract[spine]["ref"],
            reference=reference,
            recalibrated=(evaluation["champion"] or {}).get("label") if recalibrate else None,
        )
        folder = Path(report["html"]).parent
        if (folder / "evaluation.json").is_file():
            name_candidate(folder, registered["version"])
        return registered

    steps = [extract, validate, features_, split_, *train_steps, champion, evaluate_step, register]
    if on_registered is not None:
        hook = on_registered

        @step(side_effects=True, version=_source_hash(hook))
        def release(register: dict[str, Any], ctx: StepContext) -> Any:
            """Your hook after registration (request an approval, trigger a deployment)."""
            return hook(ctx, register)

        steps.append(release)
    params = {
        "as_of": Param(
            str, default=as_of, help="ISO time the labels and data are judged at (empty: now)"
        ),
        "split": Param(str, default=split, choices=("time", "random")),
        "test_fraction": Param(float, default=test_fraction),
        "seed": Param(int, default=seed, help="seed of the random split and the trainers"),
    }
    if recalibrate is not None:
        params["window_from"] = Param(
            str, default="", help="ISO time the recalibration window's labels start at"
        )
    return Pipeline(
        name,
        steps,
        params,
        description=description or f"supervised tabular pipeline for model {model_name!r}",
        module=module,
    )


def _train_step(t_name: str, trainer: Trainer, label: str) -> Step:
    def train(train: pa.Table, feature_lineage: dict[str, Any], seed: int) -> Any:
        x, y = _xy(train, feature_lineage["feature_columns"], label)
        return trainer(x, y, seed)

    return step(name=f"train_{t_name}", outputs=f"model_{t_name}", version=_source_hash(trainer))(
        train
    )


def _evaluate_step(
    name: str,
    model_outputs: Sequence[str],
    label: str,
    entity_key: str,
    timestamp: str,
    segments: Sequence[str],
    policy: AcceptancePolicy,
    golden_per_segment: int,
    sensitive: Sequence[str] = (),
) -> Step:
    def evaluate_(**kw: Any) -> tuple[dict[str, Any], Any, dict[str, Any]]:
        from modelward.pipelines.report import write_report

        test: pa.Table = kw["test"]
        ctx: StepContext = kw["ctx"]
        x, y = _xy(test, kw["feature_lineage"]["feature_columns"], label)
        seg = {s: test.column(s).to_pylist() for s in segments}
        absent = [a for a in sensitive if a not in test.column_names]
        if absent:
            raise InputError(
                f"sensitive attribute(s) {', '.join(absent)} are neither spine columns nor "
                "features, so fairness cannot be measured",
                field="sensitive",
            )
        groups = {a: test.column(a).to_pylist() for a in sensitive}
        scored = {}
        for out in model_outputs:
            p = kw[out].predict_proba(x)[:, 1]
            scored[out] = (
                p,
                evaluate(y, p, segments=seg, label=out.removeprefix("model_"), sensitive=groups),
            )
        higher = policy.metric not in ("log_loss", "brier", "ece")
        best = sorted(
            scored,
            key=lambda o: (scored[o][1].metric(policy.metric) or 0.0) * (1 if higher else -1),
        )[-1]
        champ_ev = None
        interval = None
        if kw["champion_model"] is not None:
            p_old = kw["champion_model"].predict_proba(x)[:, 1]
            champ_ev = evaluate(y, p_old, segments=seg, label=kw["champion_info"]["ref"])
            if policy.metric in GAIN_METRICS and len(set(y.tolist())) == 2:
                interval = gain_interval(y, scored[best][0], p_old, metric=policy.metric)
        cand_ev = scored[best][1]
        result = policy.judge(cand_ev, champ_ev)
        rows = test.select(
            [entity_key, timestamp, *segments, *kw["feature_lineage"]["feature_columns"]]
        ).to_pylist()
        gold = golden_set(
            rows,
            scored[best][0].tolist(),
            segment_columns=segments,
            per_segment=golden_per_segment,
            order_by=entity_key,
        )
        folder = ctx.session.workspace.home / "pipelines" / "reports" / name / ctx.run_id
        json_path, html_path = write_report(
            folder,
            cand_ev,
            champ_ev,
            result,
            gold,
            metric=policy.metric,
            context={"pipeline": name, "run": ctx.run_id, "candidate": best},
            gain=interval,
        )
        evaluation = {
            "metric": policy.metric,
            "chosen": best.removeprefix("model_"),
            "candidates": {o.removeprefix("model_"): e.to_dict() for o, (_, e) in scored.items()},
            "champion": champ_ev.to_dict() if champ_ev else None,
            "acceptance": result.to_dict(),
            "gain": interval.to_dict() if interval else None,
            "golden_set": {"hash": gold.hash, **gold.to_dict()},
        }
        return evaluation, kw[best], {"json": str(json_path), "html": str(html_path)}

    params = [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY)
        for n in (
            "test",
            "feature_lineage",
            *model_outputs,
            "champion_model",
            "champion_info",
            "ctx",
        )
    ]
    evaluate_.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return step(
        name="evaluate",
        outputs=("evaluation", "chosen_model", "report"),
        version=hashlib.sha256(
            repr((policy, segments, golden_per_segment, tuple(sensitive))).encode()
        ).hexdigest()[:16],
    )(evaluate_)


def request_promotion(stage: str = "Staging") -> Callable[[StepContext, dict[str, Any]], Any]:
    """An ``on_registered`` hook: ask the registry to move an accepted version to ``stage``.

    The transition runs the model's gates and approval policy as whoever the workspace
    token names (``MODELWARD_TOKEN`` or ``.modelward/token``, e.g. a service account). A
    refusal (a failing gate, approvals still missing) is the step's result, not a failure:
    the version waits for its approvers, and the reason is recorded with the run.
    """

    def release_hook(ctx: StepContext, registered: dict[str, Any]) -> dict[str, Any]:
        if not registered.get("accepted"):
            return {
                "requested": stage,
                "promoted": False,
                "reason": "the acceptance policy rejected the candidate",
            }
        from modelward.registry import transition
        from modelward.security import principal_for_cli

        try:
            moved = transition(
                ctx.session,
                principal_for_cli(ctx.session),
                registered["version"],
                stage,
                reason=f"pipeline {ctx.pipeline} run {ctx.run_id}: acceptance policy passed",
            )
        except (CheckFailed, Conflict) as exc:  # refused, or already there
            return {"requested": stage, "promoted": False, "reason": exc.message}
        return {"requested": stage, "promoted": True, "gates": moved.gate_results}

    return release_hook
