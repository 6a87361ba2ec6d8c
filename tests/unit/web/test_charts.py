"""Inline SVG charts: well-formed for any input, names escaped, gaps left as gaps."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.web import charts

_SVG = "{http://www.w3.org/2000/svg}"

points = st.lists(
    st.tuples(
        st.floats(1.7e9, 1.8e9),
        st.none() | st.floats(-1e6, 1e9, allow_nan=False, allow_infinity=False),
    ),
    max_size=30,
)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    series=st.lists(st.tuples(st.text(max_size=20), points), max_size=4),
    threshold=st.none() | st.floats(0, 1e6),
)
def test_any_series_draws_a_well_formed_svg(
    series: list[tuple[str, list[tuple[float, float | None]]]], threshold: float | None
) -> None:
    drawn = charts.time_series(
        "t <&> title", [charts.Series(n, p) for n, p in series], threshold=threshold
    )
    root = ET.fromstring(drawn)  # raises on broken markup
    assert root.tag == f"{_SVG}svg"
    assert root.find(f"{_SVG}title").text == "t <&> title"


def test_a_name_is_text_never_markup_and_a_gap_splits_the_line() -> None:
    drawn = charts.time_series(
        "latency",
        [
            charts.Series(
                "<script>x</script>",
                [(1.0e9, 1.0), (1.0e9 + 60, None), (1.0e9 + 120, 2.0), (1.0e9 + 180, 3.0)],
            )
        ],
    )
    assert "<script>" not in drawn and "&lt;script&gt;" in drawn
    root = ET.fromstring(drawn)
    assert len(root.findall(f"{_SVG}polyline")) == 1  # the two points after the gap
    assert len(root.findall(f"{_SVG}circle")) == 1  # the lone point before it


def test_no_data_says_so() -> None:
    assert "no data in this window" in charts.time_series("rate", [charts.Series("a", [])])
    assert "nothing to show" in charts.bars("steps", [])
    assert ET.fromstring(charts.bars("steps", [("train", 2.0), ("<b>", 0.5)])) is not None
