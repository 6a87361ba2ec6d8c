"""The model worker: one model, unpickled and called in a virtualenv of its own.

Run by :class:`~modelward.serving.model_process.ModelProcess` with that environment's
interpreter, as a script (``python -I model_worker.py FD MODEL_FILE FORMAT``): the
environment holds the model's own pinned libraries and not modelward, so this file
imports nothing but the standard library at the top, and numpy, pandas and the model's
library only once it runs there.

It talks over the socket ``FD`` (a :mod:`multiprocessing.connection` connection, which
frames each message) in plain Python values only: numpy arrays cross as raw bytes with
their dtype and shape, never pickled as arrays, because an array pickled by numpy 2
cannot be unpickled by numpy 1 (``numpy._core`` is not found), and the two sides may run
either. The first message is a hello with what the model is (its versions, whether it
has ``predict_proba``, its classes, the column names it was fitted on); then one answer
per request, ``("ok", outputs)`` or ``("error", "Type: message")``, until the gateway
sends ``None`` or goes away (the socket ends, and so does the worker).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pickle
import platform
import sys
from multiprocessing.connection import Connection
from typing import Any

#: distributions whose versions the hello reports (what a conflict is usually about)
_REPORTED = ("scikit-learn", "numpy", "scipy", "pandas", "cloudpickle")


def _versions() -> dict[str, str]:
    found = {}
    for name in _REPORTED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _load(path: str, serialization: str) -> Any:
    with open(path, "rb") as f:
        if serialization == "cloudpickle":
            cloudpickle: Any = importlib.import_module("cloudpickle")
            return cloudpickle.load(f)
        return pickle.load(f)  # noqa: S301 - the model's own artifact, as MLflow loads it


def _native(payload: tuple[Any, ...]) -> Any:
    """A request's payload -> the matrix or DataFrame the model is fed."""
    import numpy as np

    if payload[0] == "array":
        _, dtype, shape, data = payload
        return np.frombuffer(data, dtype=dtype).reshape(shape)
    pd: Any = importlib.import_module("pandas")
    columns = {}
    for name, dtype, data in payload[1]:
        columns[name] = np.frombuffer(data, dtype=dtype) if dtype is not None else data
    return pd.DataFrame(columns, copy=False)


def _outputs(model: Any, method: str, x: Any) -> list[Any]:
    if method == "positive":
        out: list[Any] = model.predict_proba(x)[:, 1].tolist()
        return out
    if method == "proba":
        rows: list[Any] = model.predict_proba(x).tolist()
        return rows
    answer = model.predict(x)
    return answer.tolist() if hasattr(answer, "tolist") else list(answer)


def _hello(model: Any) -> dict[str, Any]:
    classes = getattr(model, "classes_", None)
    names = getattr(model, "feature_names_in_", None)
    return {
        "ok": True,
        "python": platform.python_version(),
        "versions": _versions(),
        "type": type(model).__name__,
        "proba": hasattr(model, "predict_proba"),
        "classes": len(classes) if classes is not None else None,
        "names": [str(n) for n in names] if names is not None else None,
    }


def serve(conn: Connection, path: str, serialization: str) -> None:
    """Load the model, say hello, answer requests until told to stop or the socket ends."""
    try:
        model = _load(path, serialization)
    except Exception as exc:
        conn.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        return
    conn.send(_hello(model))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the gateway went away
            return
        if message is None:
            return
        method, payload = message
        try:
            conn.send(("ok", _outputs(model, method, _native(payload))))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def main(argv: list[str]) -> int:
    fd, path, serialization = argv
    conn = Connection(int(fd))
    try:
        serve(conn, path, serialization)
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
