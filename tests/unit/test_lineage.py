"""The lineage seam: what a block of training work read is collected once per item, nested
blocks and other threads collect apart, and nothing is noted outside a block."""

from __future__ import annotations

import threading

from modelward.lineage import (
    DatasetUse,
    FeatureViewUse,
    active,
    collecting,
    note_dataset,
    note_feature_view,
)

TRAIN = DatasetUse("snap1", "customers", 3, "sha256:aa")
VIEW = FeatureViewUse("driver_stats", "d1", ("sha256:src",))


def test_reads_inside_a_block_are_collected_once_each() -> None:
    with collecting() as run:
        note_dataset(TRAIN)
        note_dataset(TRAIN)  # read twice, used once
        note_feature_view(VIEW)
        note_feature_view(
            FeatureViewUse("driver_stats", "d2")
        )  # a changed definition is another use
    assert run.to_dict() == {
        "datasets": [
            {"snapshot_id": "snap1", "name": "customers", "version": 3, "content_hash": "sha256:aa"}
        ],
        "feature_views": [
            {"name": "driver_stats", "definition_hash": "d1", "source_hashes": ["sha256:src"]},
            {"name": "driver_stats", "definition_hash": "d2", "source_hashes": []},
        ],
    }


def test_nothing_is_noted_outside_a_block_and_the_block_ends_cleanly() -> None:
    note_dataset(TRAIN)  # no run open: dropped, not an error
    assert active() is None
    with collecting() as run:
        assert active() is run
    assert active() is None


def test_a_nested_block_collects_apart_and_the_outer_one_resumes() -> None:
    with collecting() as outer:
        with collecting() as inner:
            note_dataset(TRAIN)
        note_feature_view(VIEW)
    assert list(inner.datasets) == ["snap1"] and inner.feature_views == {}
    assert outer.datasets == {} and list(outer.feature_views) == ["driver_stats:d1"]


def test_another_thread_does_not_write_into_this_threads_run() -> None:
    with collecting() as run:
        worker = threading.Thread(target=note_dataset, args=(TRAIN,))
        worker.start()
        worker.join()
    assert run.datasets == {}
