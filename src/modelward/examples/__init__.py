"""Example data and models that ship with modelward (the quickstart's churn data)."""

__all__: list[str] = []
