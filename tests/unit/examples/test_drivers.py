"""The driver-stats example: the definitions it writes load as a catalog whose rules the
data keeps, with late corrections of the same hour, and a user's features.py is kept."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelward.config import Workspace, init_workspace
from modelward.examples.drivers import write_example
from modelward.features.catalog import load_catalog
from modelward.features.definitions import FeatureView
from modelward.features.validation import check_rules
from modelward.session import Session


def test_the_example_loads_as_a_catalog_over_its_data(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    data = write_example(root, drivers=6, hours=48)
    assert data == root / "data" / "driver_stats.parquet"
    with Session(Workspace.open(root, environ={})) as session:
        catalog = load_catalog(session)
    assert {"driver_stats", "trips_per_km"} <= set(catalog.views)
    table = pq.read_table(data)
    assert set(table.column_names) >= {"driver_id", "event_timestamp", "created", "trips", "city"}
    # a late correction: the same driver and hour twice, told apart by the created time
    keys = [
        (d, t)
        for d, t in zip(
            table.column("driver_id").to_pylist(),
            table.column("event_timestamp").to_pylist(),
            strict=True,
        )
    ]
    assert len(keys) > len(set(keys))
    assert pc.min(table.column("rating")).as_py() >= 3.0
    assert pc.max(table.column("acceptance")).as_py() <= 1.0
    assert not list((root / "data").glob(".*.tmp"))
    view = catalog.views["driver_stats"]
    assert isinstance(view, FeatureView) and view.rules  # the example shows rules
    con = duckdb.connect()
    con.register("batch", table)
    assert check_rules(con, "batch", view, table.num_rows) == []


def test_a_users_own_features_file_is_kept(tmp_path: Path) -> None:
    (tmp_path / "features.py").write_text("# mine\n")
    write_example(tmp_path, drivers=2, hours=4)
    assert (tmp_path / "features.py").read_text() == "# mine\n"
    assert (tmp_path / "data" / "driver_stats.parquet").exists()
