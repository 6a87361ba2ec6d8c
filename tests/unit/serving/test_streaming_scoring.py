"""The micro-batch scorer's verdicts on stream events, the gateway's rules without a server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.config import Workspace
from modelward.features import Catalog, Entity, Feature, FeatureView, materialize
from modelward.serving import EndpointSpec
from modelward.serving.batch_parts import PartFeatures as _Features
from modelward.serving.models import ObjectModelLoader, ResolvedModel
from modelward.serving.streaming.scoring import MicroBatchScorer
from modelward.session import Session

SPEC = EndpointSpec(
    name="sums",
    model="sums@1",
    request={"id": "int", "a": "float", "b": "float", "vip": "bool", "email": "string"},
    model_inputs=["a", "b"],
    pii_fields=["email"],
)


class SumModel:
    classes_ = np.array([0, 1])

    def predict_proba(self, x: Any) -> Any:
        p = 1 / (1 + np.exp(-x.sum(axis=1)))
        return np.column_stack([1 - p, p])


@pytest.fixture(scope="module")
def scorer() -> MicroBatchScorer:
    loaded = ObjectModelLoader().load(
        ResolvedModel("sums", "1", "mem://sums/1", SumModel()), SPEC.output, ["a", "b"]
    )
    return MicroBatchScorer(SPEC, loaded, ["a", "b"], _Features(None, SPEC, None, None))


def _row(**kw: Any) -> bytes:
    return orjson.dumps({"id": 1, "a": 0.5, "b": 0.25, "vip": False, "email": "x@y.z", **kw})


def _verdicts(scorer: MicroBatchScorer, bodies: list[bytes]) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {}
    for r in scorer.score(bodies).refusals:
        out.setdefault(r.index, []).append((r.field, r.rule))
    return out


def test_rows_of_one_type_per_column_are_checked_in_one_pass(scorer: MicroBatchScorer) -> None:
    no_b = orjson.dumps({"id": 1, "a": 0.5, "vip": False, "email": "x@y.z"})
    bodies = [_row(), _row(a=None), _row(vip=1), _row(ts="2026-12-01", source="web"), _row(b=3)]
    bodies.append(no_b)
    result = scorer.score(bodies)
    assert result.indexes == [0, 3, 4]  # unknown fields (ts, source) are left out
    assert result.predictions == pytest.approx(
        [1 / (1 + np.exp(-0.75)), 1 / (1 + np.exp(-0.75)), 1 / (1 + np.exp(-3.5))]
    )
    assert set(result.inputs.column("email").to_pylist()) == {"[redacted]"}
    verdicts = _verdicts(scorer, bodies)
    assert verdicts[1] == [("a", "must be a finite number")]
    assert verdicts[2] == [("vip", "must be true or false")]
    assert verdicts[5] == [("b", "is required")]


def test_a_column_of_mixed_types_gets_the_gateways_verdict_row_by_row(
    scorer: MicroBatchScorer,
) -> None:
    huge = _row().replace(b'"id":1', b'"id":' + str(2**70).encode())
    bodies = [_row(), _row(a="high"), huge, b"\xff", b'"text"', _row()]
    result = scorer.score(bodies)
    assert result.indexes == [0, 5]
    verdicts = _verdicts(scorer, bodies)
    assert verdicts[1][0][0] == "a" and "number" in verdicts[1][0][1]
    assert verdicts[2][0][0] == "id"
    assert verdicts[3][0][0] == "body" and "not valid JSON" in verdicts[3][0][1]
    assert verdicts[4] == [("body", "must be a JSON object")]
    # the same rule whichever path judged it
    assert _verdicts(scorer, [_row(a=None)])[0] == _verdicts(scorer, [_row(a=None), _row(a="x")])[0]


def test_events_read_online_features_as_the_gateway_does(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    stats = tmp_path / "stats.parquet"
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1, 2], pa.int64()),
                "spend": [10.0, 20.0],
                "updated_at": pa.array([t0, t0], pa.timestamp("us", "UTC")),
            }
        ),
        stats,
    )
    view = FeatureView(
        "stats",
        entities=[Entity("customer", ["customer_id"])],
        source=str(stats),
        timestamp="updated_at",
        features=[Feature("spend", "float64")],
    )
    spec = EndpointSpec(
        name="spend",
        model="sums@1",
        request={"customer_id": "int", "a": "float"},
        entity_keys=["customer_id"],
        features=["stats:spend"],
        model_inputs=["a", "spend"],
    )
    catalog = Catalog([view])
    with Session(sqlite_workspace) as session:
        materialize([view], session=session, catalog=catalog)
        features = _Features(session, spec, catalog, None)
        loaded = ObjectModelLoader().load(
            ResolvedModel("sums", "1", "mem://sums/1", SumModel()), spec.output, ["a", "spend"]
        )
        scorer = MicroBatchScorer(spec, loaded, ["a", "spend"], features)
        bodies = [orjson.dumps({"customer_id": c, "a": 1.0}) for c in (2, 3, 1)]

        result = scorer.score(bodies)

    assert result.indexes == [0, 2]
    assert result.inputs.column("spend").to_pylist() == [20.0, 10.0]
    assert result.predictions == pytest.approx([1 / (1 + np.exp(-21)), 1 / (1 + np.exp(-11))])
    (refusal,) = result.refusals
    assert (refusal.index, refusal.reason, refusal.field) == (1, "features", "spend")
    assert "no online value" in refusal.rule
