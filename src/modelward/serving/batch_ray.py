"""The Ray engine of batch scoring: parts scored by Ray Data actors on a cluster.

The run's process builds a Ray dataset of the part numbers still to score and maps it
with an actor class: each actor opens its own :class:`~modelward.serving.batch_parts.
PartScorer` once (the pinned model version, the workspace's prediction log), reads its
part straight from the input (only the row groups holding it, see
:meth:`~modelward.serving.batch_input.BatchInput.read_part`) and writes it by rename, as
the local engine does. Only the part numbers and their manifest entries travel through
Ray, so the input never goes through the run's process; the workers need the input, the
output folder and the workspace on a shared filesystem.

Ray is imported only here, when ``engine="ray"`` is chosen; it is the ``ray`` extra.
``address`` is a cluster's (``ray://head:10001``, ``auto``), or empty for a local
instance; a connection the caller made already (a notebook, a test) is reused.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from modelward.errors import ConfigError
from modelward.serving.batch_input import BatchInput
from modelward.serving.batch_parts import PartPlan, PartScorer

__all__ = ["RayEngine"]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "batch engine 'ray' needs Ray, which is not installed here; install it with: "
            "pip install 'modelward[ray]'",
            field="engine",
        ) from None
    return ray


class _PartActor:
    """One Ray actor: a scorer of its own, parts read from the input by number."""

    def __init__(
        self, plan: PartPlan, source: BatchInput, strings: frozenset[str], path: list[str]
    ) -> None:
        for entry in reversed(path):  # the driver's import path (a test's modules)
            if entry not in sys.path:
                sys.path.insert(0, entry)
        self.plan = plan
        self.source = source
        self.strings = strings
        self.scorer = PartScorer.open(plan)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        entries = []
        for index, dedupe in zip(batch["index"].tolist(), batch["dedupe"].tolist(), strict=True):
            table = self.source.read_part(int(index), self.plan.batch_rows, self.strings)
            entry = self.scorer.score_part(int(index), table, dedupe_log=bool(dedupe))
            entries.append(json.dumps(entry))  # one text column: no struct typing by Ray
        return {"entry": entries}


class RayEngine:
    def __init__(self, plan: PartPlan, workers: int, address: str | None) -> None:
        self.plan = plan
        self.workers = max(workers, 1)
        self.address = address

    def run_indices(
        self,
        source: BatchInput,
        indices: list[int],
        strings: frozenset[str],
        *,
        resumed: bool,
        on_done: Callable[[dict[str, Any]], None],
    ) -> None:
        """Score the parts numbered ``indices``; ``on_done`` with each entry as it lands."""
        ray = _import_ray()
        if not indices:
            return
        owned = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False}
            if self.address:
                kwargs = {"address": self.address, "log_to_driver": False}
            try:
                ray.init(**kwargs)
            except Exception as exc:
                raise ConfigError(
                    f"batch engine 'ray': cannot connect to Ray at "
                    f"{self.address or 'a local instance'!r}: {exc}",
                    field="address",
                ) from None
            owned = True
        try:
            items = [{"index": i, "dedupe": resumed} for i in indices]
            dataset = ray.data.from_items(items).map_batches(
                _PartActor,
                fn_constructor_args=(self.plan, source, strings, [p for p in sys.path if p]),
                batch_size=1,
                concurrency=min(self.workers, len(indices)),
                num_cpus=1,
            )
            for row in dataset.iter_rows():
                on_done(json.loads(row["entry"]))
        finally:
            if owned:
                ray.shutdown()

    def run(
        self,
        parts: Iterator[tuple[int, pa.Table]],
        *,
        resumed: bool,
        on_done: Callable[[dict[str, Any]], None],
    ) -> None:
        raise NotImplementedError("the Ray engine reads its parts itself: see run_indices")
