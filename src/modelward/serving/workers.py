"""Assembling an async worker for a workspace: the wiring ``modelward worker`` uses.

The worker scores through a gateway of its own (:func:`~modelward.serving.app.
create_gateway` limited to the one endpoint), so it loads the model, the features and the
release plan as ``modelward serve`` does and follows their changes the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from modelward.serving.app import create_gateway
from modelward.serving.endpoints import get_endpoint
from modelward.serving.jobs.base import open_job_queue
from modelward.serving.jobs.callbacks import CallbackSender
from modelward.serving.jobs.worker import JobWorker, WorkerStats

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["create_worker"]


def create_worker(
    session: Session,
    endpoint: str,
    *,
    queue: str | None = None,
    concurrency: int = 4,
    batch: int = 64,
    on_progress: Callable[[WorkerStats], None] | None = None,
) -> JobWorker:
    """A worker for ``endpoint``'s jobs on ``queue`` (``"sqlite"``, a ``redis://`` URL;
    default ``[serving.jobs] queue``). It closes ``session`` when :meth:`JobWorker.run`
    returns. Example::

        stats = asyncio.run(create_worker(session, "churn").run(until_idle=True))
    """
    get_endpoint(session, endpoint)  # an unknown endpoint is a clear error, not an idle worker
    workspace = session.workspace
    jobs = workspace.settings.serving.jobs
    job_queue = open_job_queue(session, queue)
    secret = workspace.secrets.webhook_secret
    callbacks = None
    if secret is not None:  # without a secret, submits with a callback_url are refused
        callbacks = CallbackSender(
            secret,
            job_queue.record_callback,
            timeout_s=jobs.callback_timeout_s,
            attempts=jobs.callback_attempts,
            backoff_s=jobs.callback_backoff_s,
            capacity=jobs.callback_capacity,
        )

    def close() -> None:
        if callbacks is not None:
            callbacks.close(timeout_s=jobs.callback_timeout_s)
        job_queue.close()

    return JobWorker(
        create_gateway(session, only=frozenset({endpoint}), access_log=False),
        job_queue,
        endpoint,
        jobs,
        concurrency=concurrency,
        batch=batch,
        session=session,
        root=workspace.root,
        callbacks=callbacks,
        on_progress=on_progress,
        on_close=close,
    )
