"""Feature definitions of the churn example: one entity, one view over the activity snapshots."""

from datetime import timedelta

from modelward.features import Entity, Feature, FeatureView, SnapshotSource

customer = Entity("customer", "customer_id", description="A paying customer account.")

activity = FeatureView(
    "activity",
    entities=[customer],
    # the latest snapshot named "activity" (the pipeline's extract step takes it)
    source=SnapshotSource("activity"),
    features=[
        Feature("plan", "string"),
        Feature("region", "string"),
        Feature("tenure_months", "int64"),
        Feature("support_tickets", "int64"),
        Feature("logins", "int64"),
        Feature("monthly_spend", "float64"),
    ],
    # a customer's activity is at most 45 days old when it is used
    ttl=timedelta(days=45),
    owner="growth",
    description="What a customer did in the 30 days before each observation.",
)
