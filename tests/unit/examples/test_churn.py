"""The churn example's data: the same arguments give the same bytes, a broken export is
broken the ways its contract must catch, labels arrive a month late, and a drift changes
the labels only, in the months it names."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from modelward.examples.churn import AS_OF, HISTORY_START, write_churn_data, write_customers


def test_the_same_arguments_write_the_same_bytes(tmp_path: Path) -> None:
    one = write_customers(tmp_path / "a" / "customers.parquet", rows=300)
    two = write_customers(tmp_path / "b" / "customers.parquet", rows=300)
    assert one.read_bytes() == two.read_bytes()
    a, _ = write_churn_data(tmp_path / "h1", customers=40, months=3)
    b, _ = write_churn_data(tmp_path / "h2", customers=40, months=3)
    assert a.read_bytes() == b.read_bytes()


def test_customers_are_one_row_each_fresh_as_of_the_examples_now(tmp_path: Path) -> None:
    table = pq.read_table(write_customers(tmp_path / "customers.parquet", rows=500))
    assert table.num_rows == 500
    assert table["customer_id"].to_pylist() == list(range(1, 501))
    assert set(table["plan"].to_pylist()) <= {"basic", "pro", "enterprise"}
    newest, oldest = pc.max(table["updated_at"]).as_py(), pc.min(table["updated_at"]).as_py()
    assert AS_OF - timedelta(days=2) <= oldest <= newest <= AS_OF  # within the contract's 2d
    assert all(e.endswith("@example.com") for e in table["email"].to_pylist())


def test_a_csv_path_writes_csv_with_a_header(tmp_path: Path) -> None:
    path = write_customers(tmp_path / "customers.csv", rows=3)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("customer_id,email,plan,region,monthly_spend") and len(lines) == 4


def test_a_broken_export_has_missing_plans_negative_tenure_and_is_stale(tmp_path: Path) -> None:
    table = pq.read_table(write_customers(tmp_path / "c.parquet", rows=2_000, broken=True))
    assert table["plan"].null_count > 0
    assert pc.min(table["tenure_months"]).as_py() < 0
    assert pc.max(table["updated_at"]).as_py() < AS_OF - timedelta(days=8)


def test_the_history_is_monthly_and_each_label_is_known_a_month_later(tmp_path: Path) -> None:
    activity_path, labels_path = write_churn_data(tmp_path, customers=30, months=4)
    activity, labels = pq.read_table(activity_path), pq.read_table(labels_path)
    assert activity.num_rows == labels.num_rows == 120
    times = sorted(set(activity["event_timestamp"].to_pylist()))
    assert times == [HISTORY_START + timedelta(days=30 * m) for m in range(4)]
    first = labels.slice(0, 1).to_pylist()[0]
    assert first["event_timestamp"] == HISTORY_START + timedelta(hours=1)
    assert first["label_available_at"] == HISTORY_START + timedelta(days=31)
    assert set(labels["churned"].to_pylist()) == {0, 1}


def test_a_drift_changes_only_the_labels_of_the_months_it_names(tmp_path: Path) -> None:
    base_a, base_l = write_churn_data(tmp_path / "base", customers=400, months=4)
    drift_a, drift_l = write_churn_data(
        tmp_path / "drift",
        customers=400,
        months=4,
        drift="calibration",
        drift_from=2,
        drift_until=3,
    )
    assert base_a.read_bytes() == drift_a.read_bytes()  # the inputs stay as they were
    before, after = pq.read_table(base_l), pq.read_table(drift_l)
    month_2 = HISTORY_START + timedelta(days=60, hours=1)
    for month in range(4):
        when = HISTORY_START + timedelta(days=30 * month, hours=1)
        rows = pc.equal(before["event_timestamp"], when)
        old = pc.sum(before.filter(rows)["churned"]).as_py()
        new = pc.sum(after.filter(rows)["churned"]).as_py()
        if when == month_2:
            assert new > old  # more customers churn: a calibration drift
        else:
            assert new == old


def test_a_broken_history_has_negative_tickets_and_an_unknown_plan(tmp_path: Path) -> None:
    activity = pq.read_table(write_churn_data(tmp_path, customers=300, months=2, broken=True)[0])
    assert pc.min(activity["support_tickets"]).as_py() == -1
    assert "gold" in set(activity["plan"].to_pylist())


def test_an_unknown_drift_is_refused_naming_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="drift: 'seasonal' is not one of calibration, concept"):
        write_churn_data(tmp_path, drift="seasonal")
    assert not tmp_path.joinpath("activity.parquet").exists()
