"""The model worker's conversation, served in process over a pipe: the hello, one answer
per request in plain values, an error that leaves it serving, and the ways it stops."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelward.serving.model_worker import serve


class Scorer:
    """Picky about its input: more than three columns is an error."""

    classes_ = np.array([0, 1])
    feature_names_in_ = np.array(["a", "b"], dtype=object)

    def predict_proba(self, x: Any) -> Any:
        x = np.asarray(x, dtype=float)
        if x.shape[1] > 3:
            raise ValueError(f"expected at most 3 columns, got {x.shape[1]}")
        p = np.clip(x[:, 0], 0, 1)
        return np.column_stack([1 - p, p])

    def predict(self, x: Any) -> Any:
        # a DataFrame is read by column name: what a model fitted on named columns does
        first = x["a"].to_numpy() if hasattr(x, "columns") else np.asarray(x, dtype=float)[:, 0]
        return (first > 0.5).astype(int)


def array(x: np.ndarray) -> tuple[Any, ...]:
    return ("array", x.dtype.str, x.shape, x.tobytes())


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[tuple[Connection, dict[str, Any], threading.Thread]]:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Scorer()))
    gateway, worker_end = Pipe()
    thread = threading.Thread(target=serve, args=(worker_end, str(path), "pickle"), daemon=True)
    thread.start()
    hello = gateway.recv()
    yield gateway, hello, thread
    gateway.send(None)
    thread.join(10)


def test_the_hello_says_what_the_model_is(worker: Any) -> None:
    _, hello, _ = worker
    assert hello["ok"] is True and hello["type"] == "Scorer"
    assert (hello["proba"], hello["classes"], hello["names"]) == (True, 2, ["a", "b"])
    assert "numpy" in hello["versions"] and hello["python"].count(".") == 2


def test_each_method_answers_in_plain_values(worker: Any) -> None:
    gateway, _, _ = worker
    x = np.array([[0.25, 1.0], [0.75, 0.0]])
    gateway.send(("positive", array(x)))
    assert gateway.recv() == ("ok", [0.25, 0.75])
    gateway.send(("proba", array(x)))
    assert gateway.recv() == ("ok", [[0.75, 0.25], [0.25, 0.75]])
    gateway.send(("predict", array(x)))
    status, labels = gateway.recv()
    assert status == "ok" and labels == [0, 1] and all(type(v) is int for v in labels)


def test_a_frame_payload_arrives_as_named_columns(worker: Any) -> None:
    gateway, _, _ = worker
    a = np.array([0.9, 0.1])
    payload = ("frame", [("a", a.dtype.str, a.tobytes()), ("b", None, ["x", "y"])])
    gateway.send(("predict", payload))
    assert gateway.recv() == ("ok", [1, 0])


def test_a_failing_call_is_an_answer_and_the_worker_keeps_serving(worker: Any) -> None:
    gateway, _, thread = worker
    gateway.send(("positive", array(np.zeros((1, 5)))))
    assert gateway.recv() == ("error", "ValueError: expected at most 3 columns, got 5")
    gateway.send(("positive", array(np.array([[0.5, 0.5]]))))
    assert gateway.recv() == ("ok", [0.5])
    assert thread.is_alive()


def test_the_worker_stops_when_the_gateway_goes_away(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Scorer()))
    gateway, worker_end = Pipe()
    thread = threading.Thread(target=serve, args=(worker_end, str(path), "pickle"), daemon=True)
    thread.start()
    assert gateway.recv()["ok"]
    gateway.close()
    thread.join(10)
    assert not thread.is_alive()


def test_a_model_that_cannot_be_loaded_says_why_and_stops(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(b"not a pickle")
    gateway, worker_end = Pipe()
    serve(worker_end, str(path), "pickle")  # returns at once: nothing to serve
    hello = gateway.recv()
    assert hello["ok"] is False and hello["error"].startswith("UnpicklingError:")
