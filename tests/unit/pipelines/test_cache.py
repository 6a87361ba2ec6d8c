"""The step cache: changed step code must miss, unchanged work must hit.

The key is ``sha256(code hash, parameter values the step reads, input hashes)``. The
property test varies each part alone and checks that exactly the change moves the key;
the run tests change a step's source between two runs in one workspace and check which
steps ran again.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from modelward.config import Workspace
from modelward.pipelines import PipelineRun, run_pipeline
from modelward.pipelines.cache import ObjectStore, StoredValue, cache_key
from modelward.pipelines.graph import Pipeline
from modelward.pipelines.worker import load_module_file
from modelward.session import Session

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
params = st.dictionaries(st.text(min_size=1, max_size=5), json_scalars, max_size=4)
inputs = st.dictionaries(
    st.text(min_size=1, max_size=5),
    st.text("0123456789abcdef", min_size=4, max_size=8).map(lambda h: f"sha256:{h}"),
    max_size=3,
)


# input generation speed is the machine's load, not the key's behaviour: no time checks
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(code=st.text(max_size=10), params=params, inputs=inputs, data=st.data())
def test_each_part_of_the_key_moves_it_alone(
    code: str, params: dict[str, Any], inputs: dict[str, str], data: st.DataObject
) -> None:
    key = cache_key(code, params, inputs)
    assert key.startswith("sha256:") and len(key) == 71
    assert cache_key(code, dict(reversed(params.items())), dict(reversed(inputs.items()))) == key
    part = data.draw(st.sampled_from(["code", "param value", "new param", "input hash", "input"]))
    event(part)
    p, i = copy.deepcopy(params), copy.deepcopy(inputs)
    c = code
    if part == "code":
        c = code + "#"
    elif part == "param value" and p:
        name = data.draw(st.sampled_from(sorted(p)))
        p[name] = [p[name]]  # any other value
    elif part == "input hash" and i:
        name = data.draw(st.sampled_from(sorted(i)))
        i[name] = i[name] + "0"
    elif part == "input":
        i["~new"] = "sha256:00"
    else:
        p["~new"] = 1
    assert cache_key(c, p, i) != key


def test_a_param_and_an_input_of_the_same_name_do_not_collide() -> None:
    assert cache_key("c", {"x": "sha256:1"}, {}) != cache_key("c", {}, {"x": "sha256:1"})


def test_ints_floats_and_bools_are_different_parameter_values() -> None:
    keys = {cache_key("c", {"p": v}, {}) for v in (1, 1.0, True, "1")}
    assert len(keys) == 4  # json writes 1, 1.0, true and "1" differently


# --- changed code misses the cache -------------------------------------------------------------

V1 = """
from modelward.pipelines import pipeline, step


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step
def double(numbers: list[int]) -> list[int]:
    return [x * 2 for x in numbers]


@step
def total(double: list[int]) -> int:
    return sum(double)


flow = pipeline("cached", [numbers, double, total], params={"n": 5})
"""
# the same output, written another way: double runs again, total's input is unchanged
V2_SAME_OUTPUT = V1.replace("[x * 2 for x in numbers]", "[x + x for x in numbers]")
# other output: double and everything after it run again
V3_OTHER_OUTPUT = V1.replace("[x * 2 for x in numbers]", "[x * 3 for x in numbers]")
# a bumped version invalidates without a code change
V4_VERSION = V1.replace("@step\ndef double", '@step(version="2")\ndef double')


def _flow(tmp_path: Path, name: str, text: str) -> Pipeline:
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    flow: Pipeline = load_module_file(path, prefix="modelward_test_cache_").flow
    return flow


def _statuses(run: PipelineRun) -> dict[str, str]:
    assert run.ok, run.error
    return {s.step: s.status for s in run.steps}


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Session:
    s = Session(sqlite_workspace)
    yield s  # type: ignore[misc]
    s.close()


def test_changed_step_code_misses_the_cache(session: Session, tmp_path: Path) -> None:
    first = run_pipeline(session, _flow(tmp_path, "v1", V1), executor="inline")
    assert _statuses(first) == {"numbers": "succeeded", "double": "succeeded", "total": "succeeded"}

    again = run_pipeline(session, _flow(tmp_path, "v1_again", V1), executor="inline")
    assert _statuses(again) == {"numbers": "cached", "double": "cached", "total": "cached"}

    rewritten = run_pipeline(session, _flow(tmp_path, "v2", V2_SAME_OUTPUT), executor="inline")
    assert _statuses(rewritten) == {"numbers": "cached", "double": "succeeded", "total": "cached"}
    assert rewritten.step("double").cache_key != first.step("double").cache_key
    assert rewritten.step("double").outputs == first.step("double").outputs

    changed = run_pipeline(session, _flow(tmp_path, "v3", V3_OTHER_OUTPUT), executor="inline")
    assert _statuses(changed) == {"numbers": "cached", "double": "succeeded", "total": "succeeded"}

    bumped = run_pipeline(session, _flow(tmp_path, "v4", V4_VERSION), executor="inline")
    assert _statuses(bumped)["double"] == "succeeded"


def test_a_changed_parameter_misses_and_the_old_one_still_hits(
    session: Session, tmp_path: Path
) -> None:
    flow = _flow(tmp_path, "p1", V1)
    assert _statuses(run_pipeline(session, flow, {"n": 5}, executor="inline"))["numbers"] == (
        "succeeded"
    )
    assert set(_statuses(run_pipeline(session, flow, {"n": 6}, executor="inline")).values()) == {
        "succeeded"
    }
    assert set(_statuses(run_pipeline(session, flow, {"n": 5}, executor="inline")).values()) == {
        "cached"
    }


def test_without_the_cache_every_step_runs_and_the_cache_is_left_alone(
    session: Session, tmp_path: Path
) -> None:
    flow = _flow(tmp_path, "nc", V1)
    run_pipeline(session, flow, executor="inline")
    fresh = run_pipeline(session, flow, executor="inline", use_cache=False)
    assert set(_statuses(fresh).values()) == {"succeeded"}
    assert set(_statuses(run_pipeline(session, flow, executor="inline")).values()) == {"cached"}


# --- the object store -----------------------------------------------------------------------------


def test_a_stored_output_is_verified_before_it_is_read(tmp_path: Path) -> None:
    from modelward.errors import StorageError

    store = ObjectStore(tmp_path / "objects", tmp_path / "tmp")
    stored = store.put({"a": [1, 2]})
    assert stored.codec == "json" and store.get(stored) == {"a": [1, 2]}
    assert store.put({"a": [1, 2]}) == stored  # same content, same name, written once
    store.path(stored).write_text('{"a": [1, 3]}')
    with pytest.raises(StorageError, match="does not match its hash"):
        store.get(stored)
    with pytest.raises(StorageError, match="missing"):
        store.get(StoredValue("sha256:" + "0" * 64, "json", 1))
    assert list((tmp_path / "tmp").iterdir()) == []  # no temporary file left behind


@pytest.mark.parametrize(
    ("value", "codec"),
    [
        ({"k": 1.5}, "json"),
        ([1, "a", None], "json"),
        ((1, 2), "pickle"),  # a tuple would come back a list from JSON
        (float("nan"), "pickle"),
        ({1: "int key"}, "pickle"),
    ],
)
def test_values_that_json_would_change_are_pickled(tmp_path: Path, value: Any, codec: str) -> None:
    store = ObjectStore(tmp_path / "objects", tmp_path / "tmp")
    stored = store.put(value)
    assert stored.codec == codec
    back = store.get(stored)
    assert back == value or (back != back and value != value)  # nan
    assert type(back) is type(value)


# --- the object store's layout, codecs and hashes, value by value ------------------------------


def _store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / "objects", tmp_path / "tmp")


def test_a_json_output_is_named_by_the_sha256_of_its_canonical_json(tmp_path: Path) -> None:
    import hashlib

    store = _store(tmp_path)
    stored = store.put({"b": 1, "a": [1.5, None, True]})
    canonical = b'{"a":[1.5,null,true],"b":1}'  # sorted keys, no spaces: the same on any machine
    digest = hashlib.sha256(canonical).hexdigest()
    assert stored == StoredValue(f"sha256:{digest}", "json", len(canonical))
    assert store.path(stored) == tmp_path / "objects" / digest[:2] / f"{digest}.json"
    assert store.read_bytes(stored) == canonical
    assert store.exists(stored)
    assert not store.exists(StoredValue("sha256:" + "1" * 64, "json", 1))
    assert StoredValue.from_dict(stored.to_dict()) == stored
    assert stored.to_dict() == {"hash": f"sha256:{digest}", "codec": "json", "size": 27}


@pytest.mark.parametrize("value", [{"x": [1.0, float("nan")]}, [float("inf")], {"y": {"z": 1e400}}])
def test_a_nan_or_infinity_anywhere_inside_is_pickled_and_comes_back(
    tmp_path: Path, value: Any
) -> None:
    store = _store(tmp_path)
    stored = store.put(value)
    assert stored.codec == "pickle"
    assert store.path(stored).suffix == ".pkl"
    assert repr(store.get(stored)) == repr(value)  # nan != nan, so compare how it prints


def test_a_table_and_a_dataframe_are_named_by_the_table_hash_and_verified(
    tmp_path: Path,
) -> None:
    import pandas as pd
    import pyarrow as pa

    from modelward.data import hash_batches
    from modelward.errors import StorageError

    store = _store(tmp_path)
    table = pa.table({"id": [1, 2, 3], "name": ["a", "b", None]})
    stored = store.put(table)
    assert (stored.codec, stored.hash) == ("arrow", hash_batches(table.schema, table.to_batches()))
    assert store.path(stored).suffix == ".parquet"
    assert stored.size == store.path(stored).stat().st_size
    assert store.get(stored).equals(table)

    frame = store.put(table.to_pandas())
    assert frame.codec == "pandas"
    back = store.get(frame)
    assert isinstance(back, pd.DataFrame) and back.equals(table.to_pandas())

    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [1, 2, 4], "name": ["a", "b", None]}), store.path(stored))
    with pytest.raises(StorageError, match="does not match its hash"):
        store.get(stored)


def test_a_pandas_object_other_than_a_dataframe_is_pickled_not_stored_as_a_table(
    tmp_path: Path,
) -> None:
    import pandas as pd

    store = _store(tmp_path)
    series = pd.Series([1.5, 2.5], name="score")
    stored = store.put(series)
    assert stored.codec == "pickle"
    pd.testing.assert_series_equal(store.get(stored), series)


def test_a_bad_stored_output_names_its_file_and_carries_its_hash(tmp_path: Path) -> None:
    from modelward.errors import StorageError

    store = _store(tmp_path)
    stored = store.put({"a": 1})
    store.path(stored).write_text('{"a":2}')
    with pytest.raises(StorageError) as tampered:
        store.get(stored)
    assert str(tampered.value).startswith(f"{store.path(stored)}: ")
    assert tampered.value.details == {"hash": stored.hash}

    gone = StoredValue("sha256:" + "0" * 64, "json", 1)
    with pytest.raises(StorageError) as missing:
        store.get(gone)
    assert str(missing.value).endswith("delete the cache entry or rerun with --no-cache")
    assert missing.value.details == {"hash": gone.hash}


def test_a_store_that_cannot_be_written_says_which_folder(tmp_path: Path) -> None:
    from modelward.errors import StorageError

    class FullDisk:  # what a full disk does to the write, raised where the bytes are made
        def __reduce__(self) -> Any:
            raise OSError(28, "No space left on device")

    (tmp_path / "tmp").write_text("a file where the folder should be")
    with pytest.raises(StorageError, match=r"tmp: cannot store a step output"):
        _store(tmp_path).put({"a": 1})
    (tmp_path / "tmp").unlink()
    with pytest.raises(StorageError, match=r"objects: cannot store a step output: .*No space"):
        _store(tmp_path).put(FullDisk())
    (tmp_path / "objects").mkdir()
    (tmp_path / "objects" / "ab").write_text("a file where a hash folder should be")
    raw = b'{"a":1}'
    import hashlib

    digest = "sha256:ab" + hashlib.sha256(raw).hexdigest()[2:]  # lands in objects/ab
    with pytest.raises(StorageError, match=r"objects/ab/.*: cannot store a step output"):
        _store(tmp_path).put_bytes(StoredValue(digest, "json", len(raw)), raw)


def test_bytes_from_a_worker_are_stored_under_their_recorded_hash_once(tmp_path: Path) -> None:
    store = _store(tmp_path)
    stored = store.put([1, 2, 3])
    other = _store(tmp_path / "other")
    assert other.put_bytes(stored, store.read_bytes(stored)) == stored
    assert other.get(stored) == [1, 2, 3]
    # a second copy of the same name keeps the file already there, and leaves no temporary
    other.put_bytes(stored, store.read_bytes(stored))
    assert other.get(stored) == [1, 2, 3]
    assert list((tmp_path / "other" / "tmp").iterdir()) == []


def test_the_cache_key_is_a_fixed_definition() -> None:
    import hashlib
    from datetime import date

    body = '{"code":"c1","inputs":{"rows":"sha256:ab"},"params":{"n":5,"when":"2026-01-02"}}'
    expected = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
    # a value JSON cannot hold (a date) is keyed by its text rather than refused
    got = cache_key("c1", {"when": date(2026, 1, 2), "n": 5}, {"rows": "sha256:ab"})
    assert got == expected
