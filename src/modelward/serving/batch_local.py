"""Scoring in the run's own process: the scorer, the parts scored while the input is
hashed, and their commits in order.

The output folder is named by the input's content hash, so nothing can be written before
the hash is known; scoring needs nothing of the run, though (see
:class:`~modelward.serving.batch_parts.ScoredPart`). The SHA-256 of the file runs in a
process of its own (:class:`~modelward.serving.batch_input.Hashing`) while this one loads
the model and scores the first parts, a bounded few, held until the run's folder is known.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from modelward.monitoring import PredictionSink
from modelward.serving.batch_engines import score_in_order
from modelward.serving.batch_input import BatchInput
from modelward.serving.batch_parts import (
    PartFeatures,
    PartPlan,
    PartScorer,
    ScoredPart,
    finished_part,
    part_name,
)
from modelward.serving.models import ModelLoader

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["LocalScoring", "Progress", "score_here"]

Progress = Callable[[int, int | None], None]


#: parts scored ahead while the input is hashed, at most (and at most so many bytes of
#: rows): held until the run's folder is known, so memory stays bounded
_AHEAD_PARTS = 8
_AHEAD_BYTES = 256 << 20


class LocalScoring:
    """Scoring in this process: the scorer (its model loaded, its log opened) and the parts
    it scored ahead while the input was being hashed."""

    def __init__(self, scorer: PartScorer, close_sink: bool) -> None:
        self.scorer = scorer
        self._close_sink = close_sink
        self.ahead: list[ScoredPart] = []
        self._batches: Iterator[pa.Table] | None = None
        #: the input's parts after the ahead ones (None: not yet read)
        self.rest: Iterator[tuple[int, pa.Table]] | None = None

    @classmethod
    def start(
        cls,
        plan: PartPlan,
        loader: ModelLoader,
        prediction_log: PredictionSink | None,
        session: Session | None,
        source: BatchInput,
    ) -> tuple[LocalScoring, BatchInput]:
        """A scorer opened and the first parts scored while ``source`` is hashed (in a
        process of its own); the scorer and the hashed input."""
        hashing = source.start_hash()
        local: LocalScoring | None = None
        try:
            local = cls.open(plan, loader, prediction_log, session)
            local.score_ahead(source, hashing.done)
            return local, hashing.result()
        except BaseException:
            hashing.cancel()
            if local is not None:
                local.close()
            raise

    @classmethod
    def open(
        cls,
        plan: PartPlan,
        loader: ModelLoader,
        prediction_log: PredictionSink | None,
        session: Session | None,
    ) -> LocalScoring:
        spec = plan.spec
        model = loader.load(plan.resolved, spec.output, plan.columns)
        sink = prediction_log
        if sink is None:
            from modelward.monitoring import open_workspace_log

            assert session is not None
            sink = open_workspace_log(session)
        features = PartFeatures(session, spec, plan.catalog, plan.event_time)
        return cls(PartScorer(plan, model, features, sink), prediction_log is None)

    def score_ahead(self, source: BatchInput, stop: Callable[[], bool]) -> None:
        """Score the input's first parts until ``stop()`` (the hash is done) or the bound."""
        strings = frozenset(self.scorer.request)
        self._batches = source.batches(self.scorer.plan.batch_rows, strings)
        self.rest = enumerate(self._batches)
        held = 0
        while not stop() and len(self.ahead) < _AHEAD_PARTS and held < _AHEAD_BYTES:
            item = next(self.rest, None)
            if item is None:
                break
            part = self.scorer.prepare(*item)
            self.ahead.append(part)
            held += part.good.nbytes

    def close(self) -> None:
        if isinstance(self._batches, Generator):
            self._batches.close()  # the input's reader, if the run stopped before its end
        if self._close_sink:
            self.scorer.sink.close()


def score_here(
    local: LocalScoring,
    source: BatchInput,
    work: Path,
    run_id: str,
    on_progress: Progress | None,
    resumed: bool,
) -> list[dict[str, Any]]:
    """The parts scored in this process (those scored ahead first), committed in order."""
    scorer = local.scorer.for_run(run_id, work)
    batch_rows = scorer.plan.batch_rows
    finished_before = {p.name for p in work.glob("part-*.parquet")}
    parts: dict[int, dict[str, Any]] = {}
    done = [0]

    def finished(part: dict[str, Any]) -> None:
        parts[part["index"]] = part
        done[0] += part["rows_in"]
        if on_progress is not None:
            on_progress(done[0], source.num_rows)

    ahead = len(local.ahead)
    batches = local.rest
    if batches is None:
        batches = enumerate(source.batches(batch_rows, frozenset(scorer.request)))

    def to_commit() -> Iterator[ScoredPart]:
        while local.ahead:  # let go of each as it is handed on
            part = local.ahead.pop(0)
            if part_name(part.index) in finished_before:  # a killed run's, kept as it was
                finished(finished_part(work, part.index, part.rows_in))
            else:
                yield part
        for index, table in batches:
            if part_name(index) in finished_before:
                finished(finished_part(work, index, table.num_rows))
            else:
                yield scorer.prepare(index, table)

    # the parts scored ahead are held already: all of them may wait for the writer
    score_in_order(scorer, to_commit(), resumed=resumed, on_done=finished, in_flight=ahead + 1)
    return [parts[i] for i in sorted(parts)]
