"""Traffic plans and the routing decision: sticky, monotonic, and the share it promises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.errors import InputError
from modelward.rollout import BUCKETS, Strategy, TrafficPlan, parse_strategy

keys = st.text(min_size=0, max_size=40)
weights = st.floats(min_value=0, max_value=100, allow_nan=False)
release_ids = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=20)
quick = settings(max_examples=80, deadline=None, database=None)


@quick
@given(key=keys, weight=weights, release=release_ids)
def test_the_same_key_always_gets_the_same_answer(key: str, weight: float, release: str) -> None:
    # a plan rebuilt from the same release (another worker, or after a restart) agrees
    first = TrafficPlan.canary("m@1", "m@2", weight=weight, release_id=release)
    again = TrafficPlan.canary("m@1", "m@2", weight=weight, release_id=release)
    assert first.route(key) == again.route(key)


@quick
@given(key=keys, low=weights, high=weights, release=release_ids)
def test_a_key_on_the_candidate_stays_on_it_when_the_weight_grows(
    key: str, low: float, high: float, release: str
) -> None:
    low, high = min(low, high), max(low, high)
    before = TrafficPlan.canary("m@1", "m@2", weight=low, release_id=release).route(key)
    after = TrafficPlan.canary("m@1", "m@2", weight=high, release_id=release).route(key)
    if before.role == "candidate":
        assert after.role == "candidate"


@quick
@given(key=keys, release=release_ids)
def test_zero_and_full_weight_are_exact(key: str, release: str) -> None:
    none = TrafficPlan.canary("m@1", "m@2", weight=0, release_id=release).route(key)
    full = TrafficPlan.canary("m@1", "m@2", weight=100, release_id=release).route(key)
    assert (none.version, none.role, none.release_id) == ("m@1", "primary", release)
    assert (full.version, full.role) == ("m@2", "candidate")


@pytest.mark.parametrize("weight", [1.0, 5.0, 25.0, 50.0])
def test_the_candidate_answers_its_share_of_keys(weight: float) -> None:
    plan = TrafficPlan.canary("m@1", "m@2", weight=weight, release_id="rel-1")
    n = 20_000
    share = sum(plan.route(f"customer-{i}").role == "candidate" for i in range(n)) / n * 100
    # binomial sd at 50 % over 20k keys is 0.35 points; 1.5 points is > 4 sd
    assert abs(share - weight) < 1.5


def test_a_new_release_reshuffles_who_goes_first() -> None:
    a = TrafficPlan.canary("m@1", "m@2", weight=10, release_id="rel-a")
    b = TrafficPlan.canary("m@1", "m@2", weight=10, release_id="rel-b")
    on_a = {i for i in range(2_000) if a.route(str(i)).role == "candidate"}
    on_b = {i for i in range(2_000) if b.route(str(i)).role == "candidate"}
    assert on_a != on_b


@quick
@given(key=keys, percent=st.floats(min_value=0.01, max_value=100), release=release_ids)
def test_a_shadow_never_answers(key: str, percent: float, release: str) -> None:
    route = TrafficPlan.shadow("m@1", "m@2", percent=percent, release_id=release).route(key)
    assert route.version == "m@1"
    assert route.role == "primary"
    assert route.shadow in (None, "m@2")


def test_full_shadow_mirrors_every_request() -> None:
    plan = TrafficPlan.shadow("m@1", "m@2", percent=100, release_id="r")
    assert all(plan.route(str(i)).shadow == "m@2" for i in range(500))


def test_blue_green_is_all_or_nothing() -> None:
    blue = TrafficPlan.blue_green("m@1", "m@2", green_live=False, release_id="r")
    green = TrafficPlan.blue_green("m@1", "m@2", green_live=True, release_id="r")
    assert {blue.route(str(i)).version for i in range(200)} == {"m@1"}
    assert {green.route(str(i)).version for i in range(200)} == {"m@2"}
    assert blue.versions == green.versions == ("m@1", "m@2")  # both slots stay warm
    with pytest.raises(InputError, match="weight"):
        TrafficPlan(Strategy.BLUE_GREEN, "m@1", "m@2", weight=50)


def test_single_serves_one_version() -> None:
    plan = TrafficPlan.single("m@1")
    assert plan.route("anyone") == ("m@1", "primary", None, "")
    assert plan.versions == ("m@1",)


def test_plans_refuse_what_cannot_be_served() -> None:
    with pytest.raises(InputError, match="needs a candidate"):
        TrafficPlan(Strategy.CANARY, "m@1", None, weight=5)
    with pytest.raises(InputError, match="weight: 120"):
        TrafficPlan.canary("m@1", "m@2", weight=120, release_id="r")
    with pytest.raises(InputError, match="sends the candidate no answers"):
        TrafficPlan(Strategy.SHADOW, "m@1", "m@2", weight=5)


def test_the_sticky_key_is_the_chosen_field_else_the_entity_key_else_the_request_id() -> None:
    plan = TrafficPlan.canary("m@1", "m@2", weight=5, release_id="r", sticky_by="account")
    fields = {"account": 7, "customer_id": 42}
    assert plan.sticky_key(fields, "req-1", default_field="customer_id") == "7"
    plain = TrafficPlan.canary("m@1", "m@2", weight=5, release_id="r")
    assert plain.sticky_key(fields, "req-1", default_field="customer_id") == "42"
    assert plain.sticky_key({}, "req-1", default_field="customer_id") == "req-1"
    assert plain.sticky_key(fields, "req-1") == "req-1"


def test_buckets_resolve_hundredths_of_a_percent() -> None:
    assert BUCKETS == 10_000
    plan = TrafficPlan.canary("m@1", "m@2", weight=0.01, release_id="r")
    hits = sum(plan.route(str(i)).role == "candidate" for i in range(100_000))
    assert 0 < hits < 40  # about 10 expected


@pytest.mark.parametrize(
    ("given_", "expected"),
    [("canary", Strategy.CANARY), ("blue-green", Strategy.BLUE_GREEN), ("Shadow", Strategy.SHADOW)],
)
def test_strategies_parse_as_the_cli_spells_them(given_: str, expected: Strategy) -> None:
    assert parse_strategy(given_) is expected


def test_an_unknown_strategy_names_the_field() -> None:
    with pytest.raises(InputError, match="strategy: 'linear' is not a strategy") as caught:
        parse_strategy("linear")
    assert caught.value.details["field"] == "strategy"
