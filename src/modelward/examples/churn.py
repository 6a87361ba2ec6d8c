"""The churn example: a deterministic generator of customer data, and its contract.

Values come from DuckDB's ``hash`` of the row number and a salt rather than from a
random generator, so the same arguments give the same bytes on any machine and any
number of threads, and therefore the same snapshot hash.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from modelward.data.sources import connect, quote_literal

__all__ = ["AS_OF", "CONTRACT_YAML", "write_customers"]

#: the example's "now": freshness of the generated data is judged at this time
AS_OF = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)

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


def _u(salt: int) -> str:
    """A uniform number in [0, 1) from the row number and a salt, in SQL."""
    return f"((hash(i, {salt}) % 1000003) / 1000003.0)"


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
