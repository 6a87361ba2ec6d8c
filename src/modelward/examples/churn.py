"""The churn example's data: customers (with their contract), and their history over time.

:func:`write_customers` writes one customer table, as the quickstart snapshots and
validates it. :func:`write_churn_data` writes what the churn pipeline trains on:
customers observed every 30 days (``activity``: spend, support tickets, logins, tenure,
plan and region at ``event_timestamp``), and whether each churned in the 30 days after an
observation (``labels``), known only when those 30 days are over (``label_available_at``),
so a training run at time T may use only labels available by T. Churn depends on the
features non-linearly (many tickets *and* few logins is much worse than either), by plan
and by region, so a tree model beats a linear baseline and segments differ.

Values come from DuckDB's ``hash`` of the row and a salt rather than from a random
generator, so the same arguments give the same bytes on any machine and any number of
threads, and therefore the same snapshot hashes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from modelward.data import connect, quote_literal

__all__ = [
    "AS_OF",
    "CONTRACT_YAML",
    "DRIFTS",
    "HISTORY_AS_OF",
    "HISTORY_START",
    "write_churn_data",
    "write_customers",
]

#: the example's "now": freshness of the generated data is judged at this time
AS_OF = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)

#: the history's first observation; one every 30 days after it
HISTORY_START = datetime(2025, 1, 1, tzinfo=UTC)
#: the history's default "now": 12 observations, the last month's labels still pending
HISTORY_AS_OF = HISTORY_START + timedelta(days=12 * 30)

CONTRACT_YAML = """\
name: customers
version: 1
description: One row per customer, refreshed daily by the billing export.
columns:
  customer_id:
    type: integer
    nullable: false
    unique: true
    min: 1
  email:
    type: string
    nullable: false
    regex: '[a-z0-9._]+@example\\.com'
    pii: true
    description: Contact address; redacted in logs.
  plan:
    type: string
    nullable: false
    allowed_values: [basic, pro, enterprise]
  region:
    type: string
    max_null_fraction: 0.01
    allowed_values: [na, eu, apac, latam]
  monthly_spend:
    type: float
    nullable: false
    min: 0
    max: 10000
  tenure_months:
    type: integer
    nullable: false
    min: 0
    max: 600
  support_tickets:
    type: integer
    min: 0
  signup_at:
    type: timestamp
    nullable: false
  updated_at:
    type: timestamp
    nullable: false
table:
  row_count:
    min: 1000
  freshness:
    column: updated_at
    max_age: 2d
"""


def _uniform(key: str, salt: int) -> str:
    """A uniform number in [0, 1) from the row's ``key`` columns and a salt, in SQL."""
    return f"((hash({key}, {salt}) % 1000003) / 1000003.0)"


def _u(salt: int) -> str:
    """Per customer row (``i``), for the customer table."""
    return _uniform("i", salt)


def _m(salt: int) -> str:
    """Per (customer, month), for the history."""
    return _uniform("customer_id, month", salt)


def write_customers(path: Path, *, rows: int = 50_000, day: int = 0, broken: bool = False) -> Path:
    """Write the customer table as it looked on ``AS_OF`` minus ``1 - day`` days.

    ``broken=True`` simulates a bad export: some plans missing, negative tenure and a
    stale ``updated_at``; a contract must refuse it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    asof = AS_OF.strftime("%Y-%m-%d %H:%M:%S+00")
    stale = "INTERVAL 9 DAY" if broken else "INTERVAL 0 DAY"
    bad_plan = f"CASE WHEN {_u(11)} < 0.03 THEN NULL ELSE plan END" if broken else "plan"
    bad_tenure = (
        f"CASE WHEN {_u(12)} < 0.01 THEN -tenure_months ELSE tenure_months END"
        if broken
        else "tenure_months"
    )
    query = f"""
    WITH base AS (
      SELECT i, i + 1 AS customer_id,
             ['basic', 'basic', 'basic', 'pro', 'pro', 'enterprise'][1 + (hash(i, 1) % 6)::INT]
               AS plan,
             ['na', 'eu', 'apac', 'latam'][1 + (hash(i, 2) % 4)::INT] AS region,
             CAST(floor({_u(3)} * 72) AS INTEGER) AS tenure_months,
             CAST(floor({_u(4)} * {_u(5)} * 8) AS INTEGER) AS support_tickets,
             round(10 + {_u(6)} * 290, 2) AS spend
      FROM range({int(rows)}) t(i)
    )
    SELECT customer_id,
           'user' || customer_id || '@example.com' AS email,
           {bad_plan} AS plan,
           region,
           CASE plan WHEN 'enterprise' THEN spend * 8 WHEN 'pro' THEN spend * 2 ELSE spend END
             AS monthly_spend,
           {bad_tenure} AS tenure_months,
           support_tickets,
           TIMESTAMPTZ '{asof}' - to_days(tenure_months * 30 + 1) AS signup_at,
           TIMESTAMPTZ '{asof}' - INTERVAL {1 - day} DAY - {stale}
             - to_seconds(CAST(hash(customer_id, 7) % 86400 AS BIGINT)) AS updated_at
    FROM base
    ORDER BY customer_id
    """
    con = connect()
    try:
        suffix = path.suffix.lower()
        fmt = "(FORMAT parquet)" if suffix == ".parquet" else "(FORMAT csv, HEADER true)"
        con.execute(f"COPY ({query}) TO {quote_literal(str(path))} {fmt}")
    finally:
        con.close()
    return path


#: how churn changes from month ``drift_from`` on (inputs stay as they were):
#: "calibration": more customers churn, the ranking holds (a recalibration suffices);
#: "concept": what predicts churn changes (the ticket-and-login pattern stops mattering,
#: high spenders leave): only a retrain catches it
DRIFTS = ("calibration", "concept")


def _drifted(z: str, drift: str, drift_from: int, drift_until: int | None) -> str:
    during = f"month >= {int(drift_from)}"
    if drift_until is not None:
        during += f" AND month < {int(drift_until)}"
    if drift == "calibration":
        return f"CASE WHEN {during} THEN ({z}) + 1.2 ELSE {z} END"
    changed = (
        "-2.6 + 0.15 * greatest(support_tickets, 0) - 0.01 * tenure_months"
        " + CASE WHEN monthly_spend > 150 THEN 2.0 ELSE 0 END"
        " + CASE region WHEN 'apac' THEN 1.2 ELSE 0 END"
    )
    return f"CASE WHEN {during} THEN {changed} ELSE {z} END"


def write_churn_data(
    folder: Path,
    *,
    customers: int = 3_000,
    months: int = 12,
    broken: bool = False,
    drift: str = "",
    drift_from: int = 12,
    drift_until: int | None = None,
) -> tuple[Path, Path]:
    """Write ``activity.parquet`` and ``labels.parquet`` into ``folder``; their paths.

    ``broken=True`` simulates a bad export: negative support ticket counts and unknown
    plans, which the activity contract refuses. ``drift`` (one of :data:`DRIFTS`) changes
    the labels from month ``drift_from`` on (until month ``drift_until``, when given: a
    change that passed), the inputs unchanged; without it the bytes are those of every
    earlier release.
    """
    if drift and drift not in DRIFTS:
        raise ValueError(f"drift: {drift!r} is not one of {', '.join(DRIFTS)}")
    folder.mkdir(parents=True, exist_ok=True)
    start = HISTORY_START.strftime("%Y-%m-%d %H:%M:%S+00")
    tickets = f"CAST(floor({_m(3)} * {_m(4)} * 9) AS INTEGER)"
    if broken:
        tickets = f"CASE WHEN {_m(20)} < 0.02 THEN -1 ELSE {tickets} END"
    plan = "plan" if not broken else f"CASE WHEN {_m(21)} < 0.02 THEN 'gold' ELSE plan END"
    drifted, source = "", "scored"
    if drift:
        z = _drifted("z", drift, drift_from, drift_until)
        drifted = f", drifted AS (SELECT * REPLACE ({z} AS z) FROM scored)"
        source = "drifted"
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
             CAST(floor({_m(6)} * 30) AS INTEGER) AS logins,
             round((CASE plan WHEN 'enterprise' THEN 400 WHEN 'pro' THEN 80 ELSE 20 END)
                   * (0.6 + 0.8 * {_m(7)}), 2) AS monthly_spend,
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
    ){drifted}
    SELECT *, CAST({_m(9)} < 1 / (1 + exp(-z)) AS INTEGER) AS churned FROM {source}
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
