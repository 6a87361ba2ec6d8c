"""Validation rules on a materialization batch: each broken rule with its count of rows and
the entity keys of the first five, and a null rate judged against the whole batch."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from modelward.features.definitions import Entity, Feature, FeatureView, Rule
from modelward.features.validation import check_rules

DRIVER = Entity("driver", join_keys=["driver_id"])


def stats_view(*rules: Rule) -> FeatureView:
    return FeatureView(
        "driver_stats",
        entities=[DRIVER],
        source="stats.parquet",
        features=[Feature("rating", "float64"), Feature("tier", "string")],
        rules=rules,
    )


def batch(ratings: list[float | None], tiers: list[str | None]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    rows = pa.table({"driver_id": list(range(len(ratings))), "rating": ratings, "tier": tiers})
    con.register("batch", rows)
    return con


def test_a_batch_keeping_every_rule_has_no_violation() -> None:
    view = stats_view(
        Rule.not_null("rating"),
        Rule.between("rating", 1, 5),
        Rule.one_of("tier", ["gold", "silver"]),
    )
    con = batch([1.0, 5.0, 3.0], ["gold", "silver", None])
    assert check_rules(con, "batch", view, 3) == []


def test_between_is_inclusive_and_either_bound_may_be_open() -> None:
    con = batch([0.9, 1.0, 5.0, 5.1, None], ["gold"] * 5)
    (closed,) = check_rules(con, "batch", stats_view(Rule.between("rating", 1, 5)), 5)
    assert (closed.rule, closed.rows) == ("rating between 1 and 5", 2)
    assert closed.examples == [{"driver_id": 0}, {"driver_id": 3}]
    (low_only,) = check_rules(con, "batch", stats_view(Rule.between("rating", min=1)), 5)
    assert low_only.rows == 1
    assert check_rules(con, "batch", stats_view(Rule.between("rating")), 5) == []


def test_one_of_ignores_nulls_and_lists_at_most_five_offending_keys() -> None:
    tiers: list[str | None] = ["bronze"] * 7 + [None, "gold"]
    con = batch([1.0] * 9, tiers)
    (found,) = check_rules(con, "batch", stats_view(Rule.one_of("tier", ["gold"])), 9)
    assert found.rows == 7 and found.column == "tier"
    assert found.examples == [{"driver_id": i} for i in range(5)]
    assert found.to_dict()["rule"] == "tier one of ['gold']"


def test_a_null_rate_at_its_limit_passes_and_one_row_over_fails() -> None:
    rule = Rule.max_null_rate("rating", 0.25)
    at_limit = batch([None, 1.0, 2.0, 3.0], ["gold"] * 4)
    assert check_rules(at_limit, "batch", stats_view(rule), 4) == []
    over = batch([None, None, 2.0, 3.0], ["gold"] * 4)
    (found,) = check_rules(over, "batch", stats_view(rule), 4)
    assert (found.rule, found.rows) == ("rating null rate <= 0.25", 2)


def test_a_quote_in_an_allowed_value_is_a_value_not_sql() -> None:
    con = batch([1.0, 1.0], ["o'brien", "x"])
    (found,) = check_rules(con, "batch", stats_view(Rule.one_of("tier", ["o'brien"])), 2)
    assert found.rows == 1 and found.examples == [{"driver_id": 1}]
