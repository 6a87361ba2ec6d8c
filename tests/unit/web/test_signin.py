"""Where sign-in sends the browser afterwards: only a path of the dashboard itself."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.web.pages.signin import _safe_next


@settings(max_examples=200, derandomize=True)
@given(st.text(max_size=60))
def test_the_next_page_is_always_a_local_path(target: str) -> None:
    chosen = _safe_next(target)
    assert chosen.startswith("/") and not chosen.startswith("//") and "\\" not in chosen


def test_other_sites_and_schemes_are_refused_and_local_paths_kept() -> None:
    for hostile in ("//evil.example/x", "https://evil.example", "/\\evil.example", "", None):
        assert _safe_next(hostile) == "/"
    assert _safe_next("/models/churn/2") == "/models/churn/2"
