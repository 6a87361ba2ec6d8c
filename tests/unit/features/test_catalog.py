"""The catalog of a workspace's definitions: references resolved in the order asked, each
feature once, unknown names refused with the close matches and the known ones, two
different definitions under one name refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.config import Workspace
from modelward.errors import InputError, NotFound
from modelward.features.catalog import Catalog, load_catalog
from modelward.features.definitions import FeatureView, OnDemandView
from modelward.session import Session
from tests.unit.features.support import make_stats_view


def test_references_resolve_per_view_in_order_without_repeats(catalog: Catalog) -> None:
    picked = catalog.select(
        ["trips_per_km", "driver_stats:rating", "driver_stats", "driver_stats:rating"]
    )
    assert [(s.view.name, s.names) for s in picked] == [
        ("trips_per_km", ("trips_per_km",)),
        ("driver_stats", ("rating", "trips", "city")),
    ]


def test_an_on_demand_view_brings_its_input_views_and_entities(density: OnDemandView) -> None:
    catalog = Catalog([density])
    assert sorted(catalog.views) == ["driver_stats", "trips_per_km"]
    assert list(catalog.entities) == ["driver"]


def test_an_unknown_view_suggests_close_names_and_lists_the_known(catalog: Catalog) -> None:
    with pytest.raises(
        NotFound, match=r"unknown feature view 'driver_stat'; did you mean driver_stats\?"
    ):
        catalog.view("driver_stat")
    with pytest.raises(
        InputError, match=r"unknown feature 'zzz:x'.*\(known: driver_stats, trips_per_km\)"
    ) as info:
        catalog.select(["zzz:x"])
    assert info.value.details["feature"] == "zzz:x"


def test_an_unknown_feature_of_a_known_view_names_the_views_features(catalog: Catalog) -> None:
    with pytest.raises(InputError) as info:
        catalog.select(["driver_stats:speed"])
    assert "speed" in info.value.message and "trips" in info.value.message


def test_nothing_asked_for_and_a_reference_of_the_wrong_kind_are_refused(catalog: Catalog) -> None:
    with pytest.raises(InputError, match="give at least one feature"):
        catalog.select([])
    with pytest.raises(InputError, match="is neither a string nor a view"):
        catalog.select([42])  # type: ignore[list-item]


def test_two_different_definitions_under_one_name_are_refused(
    stats_path: Path, tmp_path: Path
) -> None:
    first = make_stats_view(stats_path)
    assert list(Catalog([first, make_stats_view(stats_path)]).views) == ["driver_stats"]  # same
    other = tmp_path / "other.parquet"
    other.write_bytes(stats_path.read_bytes())
    with pytest.raises(InputError, match="two different definitions are named 'driver_stats'"):
        Catalog([first, make_stats_view(other)])


def test_the_definitions_module_is_found_from_the_setting(
    sqlite_workspace: Workspace, stats_path: Path
) -> None:
    with Session(sqlite_workspace) as session:
        with pytest.raises(
            InputError, match=r"feature definitions not found; set \[features\] definitions"
        ):
            load_catalog(session)
        (sqlite_workspace.root / "features.py").write_text(
            "from tests.unit.features.support import make_stats_view\n"
            f"stats = make_stats_view(__import__('pathlib').Path({str(stats_path)!r}))\n"
        )
        loaded = load_catalog(session)
    assert list(loaded.views) == ["driver_stats"]
    assert isinstance(loaded.views["driver_stats"], FeatureView)
