"""Finding the rows a failed batch failed on: every good row keeps its answer, each bad row
gets its own error, and the search stops at its call budget."""

from __future__ import annotations

from collections.abc import Sequence

from modelward.serving.isolation import by_halves


def _scorer(bad: set[int], log: list[tuple[int, int]]) -> object:
    def attempt(lo: int, hi: int) -> Sequence[str]:
        log.append((lo, hi))
        hit = sorted(bad & set(range(lo, hi)))
        if hit:
            raise ValueError(f"row {hit[0]}")
        return [f"ok{i}" for i in range(lo, hi)]

    return attempt


def test_each_bad_row_fails_alone_with_its_own_error_and_the_rest_are_answered() -> None:
    calls: list[tuple[int, int]] = []
    out = by_halves(8, _scorer({2, 5}, calls), ValueError("batch"))  # type: ignore[arg-type]
    assert [r if isinstance(r, str) else str(r) for r in out] == [
        "ok0",
        "ok1",
        "row 2",
        "ok3",
        "ok4",
        "row 5",
        "ok6",
        "ok7",
    ]
    assert (0, 8) not in calls  # the failed whole-batch call is not repeated


def test_a_single_item_keeps_the_failure_already_raised() -> None:
    failure = ValueError("only row")
    calls: list[tuple[int, int]] = []
    assert by_halves(1, _scorer({0}, calls), failure) == [failure]  # type: ignore[arg-type]
    assert calls == []


def test_past_the_call_budget_what_is_unresolved_fails_with_its_parts_last_error() -> None:
    calls: list[tuple[int, int]] = []
    out = by_halves(64, _scorer(set(range(64)), calls), ValueError("batch"), max_calls=2)  # type: ignore[arg-type]
    assert len(calls) == 2
    assert [str(e) for e in out[:32]] == ["row 0"] * 32
    assert [str(e) for e in out[32:]] == ["row 32"] * 32


def test_a_failure_of_the_whole_batch_only_answers_every_row() -> None:
    # both halves succeed: the batch failed for a reason no row carries alone
    out = by_halves(4, lambda lo, hi: [lo + i for i in range(hi - lo)], ValueError("batch"))
    assert out == [0, 1, 2, 3]
