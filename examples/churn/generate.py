"""A realistic, deterministic generator of customer data over time, with delayed labels.

Customers (``customer_id``, ``plan``, ``region``) are observed every 30 days: each
observation is a feature snapshot (``activity``: spend, support tickets, logins, tenure,
plan and region at ``event_timestamp``). Whether a customer churns in the 30 days after an
observation is known only when those 30 days are over: the label row (``labels``) carries
``label_available_at``, and a training run at time T may use only labels available by T.

Churn depends on the features non-linearly (many tickets *and* few logins is much worse
than either), by plan and by region, so a tree model beats a linear baseline and segments
differ. Values come from DuckDB's ``hash`` of the row and a salt, not from a random
generator: the same arguments give the same bytes, hence the same snapshot hashes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from modelward.data.sources import connect, quote_literal

__all__ = ["AS_OF", "START", "write_churn_data"]

#: first observation; one every 30 days after it
START = datetime(2025, 1, 1, tzinfo=UTC)
#: the default "now" of the example: 12 observations, the last month's labels still pending
AS_OF = START + timedelta(days=12 * 30)


def _u(salt: int) -> str:
    """A uniform number in [0, 1) per (customer, month) and salt, in SQL."""
    return f"((hash(customer_id, month, {salt}) % 1000003) / 1000003.0)"


def write_churn_data(
    folder: Path, *, customers: int = 3_000, months: int = 12, broken: bool = False
) -> tuple[Path, Path]:
    """Write ``activity.parquet`` and ``labels.parquet`` into ``folder``; their paths.

    ``broken=True`` simulates a bad export: negative support ticket counts and unknown
    plans, which the activity contract refuses.
    """
    folder.mkdir(parents=True, exist_ok=True)
    start = START.strftime("%Y-%m-%d %H:%M:%S+00")
    tickets = f"CAST(floor({_u(3)} * {_u(4)} * 9) AS INTEGER)"
    if broken:
        tickets = f"CASE WHEN {_u(20)} < 0.02 THEN -1 ELSE {tickets} END"
    plan = "plan" if not broken else f"CASE WHEN {_u(21)} < 0.02 THEN 'gold' ELSE plan END"
    rows = f"""
    WITH c AS (
      SELECT i + 1 AS customer_id,
             ['basic', 'basic', 'basic', 'pro', 'pro', 'enterprise'][1 + (hash(i, 1) % 6)::INT]
               AS plan,
             ['na', 'eu', 'apac', 'latam'][1 + (hash(i, 2) % 4)::INT] AS region,
             CAST(floor(((hash(i, 5) % 1000003) / 1000003.0) * 48) AS INTEGER) AS tenure0
      FROM range({int(customers)}) t(i)
    ), obs AS (
      SELECT c.*, m.month FROM c CROSS JOIN (SELECT range AS month FROM range({int(months)})) m
    ), feats AS (
      SELECT customer_id, month, {plan} AS plan, region,
             tenure0 + month AS tenure_months,
             {tickets} AS support_tickets,
             CAST(floor({_u(6)} * 30) AS INTEGER) AS logins,
             round((CASE plan WHEN 'enterprise' THEN 400 WHEN 'pro' THEN 80 ELSE 20 END)
                   * (0.6 + 0.8 * {_u(7)}), 2) AS monthly_spend,
             TIMESTAMPTZ '{start}' + to_days(CAST(month * 30 AS INTEGER)) AS event_timestamp
      FROM obs
    ), scored AS (
      SELECT *,
        -3.0 + 0.15 * greatest(support_tickets, 0) - 0.02 * logins - 0.01 * tenure_months
        + CASE plan WHEN 'basic' THEN 0.5 WHEN 'enterprise' THEN -0.9 ELSE 0 END
        + CASE region WHEN 'latam' THEN 0.45 WHEN 'eu' THEN -0.2 ELSE 0 END
        -- what a linear model misses: new customers, and unhappy customers who stopped
        -- logging in, churn far more
        + CASE WHEN tenure_months < 4 THEN 1.8 ELSE 0 END
        + CASE WHEN support_tickets >= 3 AND logins < 8 THEN 2.2 ELSE 0 END AS z
      FROM feats
    )
    SELECT *, CAST({_u(9)} < 1 / (1 + exp(-z)) AS INTEGER) AS churned FROM scored
    """
    activity, labels = folder / "activity.parquet", folder / "labels.parquet"
    con = connect()
    try:
        con.execute(f"CREATE TEMP TABLE rows AS {rows}")
        con.execute(
            f"""COPY (SELECT customer_id, event_timestamp, plan, region, tenure_months,
                             support_tickets, logins, monthly_spend
                      FROM rows ORDER BY event_timestamp, customer_id)
                TO {quote_literal(str(activity))} (FORMAT parquet)"""
        )
        con.execute(
            f"""COPY (SELECT customer_id,
                             event_timestamp + INTERVAL 1 HOUR AS event_timestamp,
                             churned,
                             event_timestamp + INTERVAL 31 DAY AS label_available_at
                      FROM rows ORDER BY event_timestamp, customer_id)
                TO {quote_literal(str(labels))} (FORMAT parquet)"""
        )
    finally:
        con.close()
    return activity, labels


if __name__ == "__main__":
    import sys

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "data")
    for path in write_churn_data(out):
        print(path)
