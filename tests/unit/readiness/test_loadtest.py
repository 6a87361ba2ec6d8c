"""The load driver and its numbers, against an in-memory transport (no server, no sleeps
in the measured path): what is counted as an error, how late requests are counted, the
percentiles, the verdict, and the sizing arithmetic."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelward.errors import InputError
from modelward.readiness import LoadResult, Recommendation, Trial, cost_per_1000
from modelward.readiness.loadtest import _Tally, drive, summarize
from modelward.serving.bundles import _dist_name

ANSWER = {"prediction": 0.3, "model": "churn", "model_version": "3", "degraded": False}


def transport(answer: dict[str, object], status: int = 200) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content)["inputs"]["x"] in (1, 2)
        return httpx.Response(status, json=answer)

    return httpx.MockTransport(handle)


def run(mock: httpx.MockTransport, **kwargs: object) -> tuple[_Tally, float]:
    async def go() -> tuple[_Tally, float]:
        async with httpx.AsyncClient(transport=mock, base_url="http://gw") as client:
            bodies = [b'{"inputs": {"x": 1}}', b'{"inputs": {"x": 2}}']
            return await drive(client, "/v1/endpoints/churn/predict", bodies, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def result(tally: _Tally, elapsed: float = 1.0, budget: float = 100.0) -> LoadResult:
    return summarize(
        tally,
        elapsed,
        endpoint="churn",
        concurrency=2,
        rate=None,
        workers=1,
        batching=True,
        latency_budget_ms=budget,
        target="loopback",
    )


def test_a_closed_loop_counts_every_answer_and_the_version_that_gave_it() -> None:
    tally, elapsed = run(transport(ANSWER), concurrency=2, duration_s=0.2)
    measured = result(tally, elapsed)
    assert measured.requests > 10 and measured.errors == 0
    assert measured.version == "churn@3" and measured.answered_by == {"churn@3": measured.requests}
    assert measured.statuses == {"200": measured.requests}
    assert measured.passed and measured.error_rate == 0


@pytest.mark.parametrize(
    ("answer", "status"),
    [(ANSWER, 503), ({**ANSWER, "degraded": True}, 200)],
    ids=["refused", "fallback answered"],
)
def test_refusals_and_fallback_answers_are_errors(answer: dict[str, object], status: int) -> None:
    tally, elapsed = run(transport(answer, status), concurrency=1, duration_s=0.2)
    measured = result(tally, elapsed)
    assert measured.errors == measured.requests > 0
    assert measured.error_rate == 1.0 and not measured.passed


def test_an_open_loop_counts_the_requests_no_client_was_free_to_send() -> None:
    async def go() -> _Tally:
        release = asyncio.Event()

        async def stuck(request: httpx.Request) -> httpx.Response:
            await release.wait()  # the server answers nothing while the load runs
            return httpx.Response(200, json=ANSWER)

        async with httpx.AsyncClient(
            transport=httpx.MockTransport(stuck), base_url="http://gw"
        ) as client:
            asyncio.get_running_loop().call_later(0.35, release.set)
            tally, _ = await drive(
                client, "/p", [b'{"inputs": {"x": 1}}'], concurrency=2, duration_s=0.3, rate=50
            )
            return tally

    tally = asyncio.run(asyncio.wait_for(go(), timeout=30))
    # a request was due every 20 ms for 0.3 s: each was either sent or counted late
    assert len(tally.latencies) + tally.late in (15, 16)
    assert tally.late >= 5  # two clients, stuck on their first requests


def test_percentiles_and_the_budget_verdict() -> None:
    tally = _Tally(latencies=[i / 1000 for i in range(1, 101)])  # 1..100 ms
    tally.versions["churn@3"] = 100
    measured = result(tally, budget=99.5)
    assert measured.p50_ms == pytest.approx(50.5)
    assert measured.p99_ms == pytest.approx(99.01)
    assert measured.passed
    assert not result(tally, budget=50).passed  # p99 over the budget
    data = measured.to_dict()
    assert data["configuration"] == {"workers": 1, "batching": True, "concurrency": 2, "rate": None}
    assert data["passed"] is True and len(data["load_average"]) == 3


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"concurrency": 0, "duration_s": 1.0}, "concurrency"),
        ({"concurrency": 257, "duration_s": 1.0}, "concurrency"),
        ({"concurrency": 1, "duration_s": 301.0}, "duration"),
        ({"concurrency": 1, "duration_s": float("nan")}, "duration"),
        ({"concurrency": 1, "duration_s": 1.0, "rate": -1.0}, "rate"),
    ],
)
def test_the_load_is_bounded(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InputError) as info:
        run(transport(ANSWER), **kwargs)
    assert info.value.details["field"] == field and field in info.value.message


def test_the_cheapest_configuration_that_meets_the_budget_is_recommended() -> None:
    def trial(workers: int, p99: float) -> Trial:
        tally = _Tally(latencies=[p99 / 1000] * 100)
        tally.versions["churn@3"] = 100
        return Trial(workers, result(tally, budget=50), cost_per_1000(workers, 100, 0.36), None)

    found = Recommendation("churn", 100, 50, 0.36, [trial(1, 80), trial(2, 40), trial(4, 20)])
    assert found.chosen is not None and found.chosen.workers == 2
    # 2 cores at 0.36/h serving 100 rps: 0.72/h over 360,000 predictions an hour
    assert found.chosen.cost_per_1000 == pytest.approx(0.002)
    assert found.to_dict()["recommended_workers"] == 2
    none = Recommendation("churn", 100, 50, 0.36, [trial(1, 80)])
    assert none.chosen is None and none.to_dict()["recommended_workers"] is None


@given(
    name=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True),
    spec=st.sampled_from(["", ">=1.5", "==2.0", " ; python_version>'3'", "[x]>=1"]),
)
def test_a_requirement_line_gives_its_distribution_name(name: str, spec: str) -> None:
    assert _dist_name(f"{name}{spec}") == name
    assert _dist_name(f'{name}{spec}; extra == "dev"') is None


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--recommend"], "--rate"),
        (["--recommend", "--rate", "10", "--url", "http://127.0.0.1:1"], "--url"),
    ],
)
def test_recommend_says_what_it_needs_before_loading_anything(
    args: list[str], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelward.cli import main

    with pytest.raises(SystemExit) as info:
        main(["loadtest", "churn", *args])
    assert info.value.code == 2 and field in capsys.readouterr().err
