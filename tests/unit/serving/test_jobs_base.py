"""The job queue port: which backend a ``[serving.jobs] queue`` value names, the doubling
backoff between deliveries, and a job as its status route answers it (inputs not echoed)."""

from __future__ import annotations

import pytest

from modelward.errors import InputError, UnknownPluginType
from modelward.serving.jobs.base import JOB_QUEUES, Job, backoff_s, new_job_id, queue_type


@pytest.mark.parametrize(
    ("queue", "kind"),
    [
        ("sqlite", "sqlite"),
        ("store", "sqlite"),
        ("sql", "sqlite"),
        ("redis://cache:6379/0", "redis"),
        ("rediss://:pw@cache:6380", "redis"),
        ("unix:///run/redis.sock", "redis"),
        ("kafka", "kafka"),  # a plugged-in type by name, checked by the family
    ],
)
def test_a_queue_value_names_its_backend(queue: str, kind: str) -> None:
    assert queue_type(queue) == kind


def test_an_unknown_url_scheme_names_the_setting_and_what_to_use() -> None:
    with pytest.raises(InputError, match="'amqp' is not a job queue; use 'sqlite'") as info:
        queue_type("amqp://broker")
    assert info.value.details["field"] == "serving.jobs.queue"
    with pytest.raises(UnknownPluginType):
        JOB_QUEUES.load(queue_type("kafka"))


def test_the_backoff_doubles_with_each_delivery() -> None:
    assert [backoff_s(0.5, n) for n in (0, 1, 2, 3, 4)] == [0.5, 0.5, 1.0, 2.0, 4.0]


def test_a_job_answers_its_status_without_its_inputs() -> None:
    job = Job("j1", "churn", "queued", {"inputs": [{"email": "a@x"}]}, 0, 100.0)
    assert job.to_dict() == {
        "job_id": "j1",
        "endpoint": "churn",
        "status": "queued",
        "attempts": 0,
        "created_at": 100.0,
        "finished_at": None,
    }
    done = Job(
        "j1",
        "churn",
        "failed",
        {},
        3,
        100.0,
        error="ValueError: x",
        finished_at=105.0,
        callback_state="failed: 500",
    )
    assert {k: done.to_dict()[k] for k in ("error", "callback", "finished_at")} == {
        "error": "ValueError: x",
        "callback": "failed: 500",
        "finished_at": 105.0,
    }
    assert len({new_job_id() for _ in range(100)}) == 100
