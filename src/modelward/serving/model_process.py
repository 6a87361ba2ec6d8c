"""A model served from a worker process in its own environment (``isolation = "process"``).

Two models whose libraries conflict (one pickled by scikit-learn 1.5, one by 1.9) cannot
share an interpreter. With ``[serving] isolation = {legacy = "process"}`` the gateway runs
model ``legacy`` in a worker process whose virtualenv is built from the model's own pinned
requirements (:mod:`~modelward.serving.environments`, cached by the lock's hash), and
calls it over a socket; every other model stays in the gateway's process.

The hop is a :mod:`multiprocessing.connection` connection over a socket pair (the
standard library's framing; nothing listens on a port or a path, so no other process can
reach the worker). Rows cross as raw numpy bytes with dtype and shape, answers come back
as plain lists (:mod:`~modelward.serving.model_worker` says why no array is pickled). What
the hop costs per request and per batch is measured by ``benchmarks/model_process.py``.

Failures follow the gateway's rules for any model failure: a call that raises because the
worker died (or hung past ``call_timeout_s``, when it is killed) fails the batch, the
runtime finds the model unsound (its warm-up probe fails too), and the endpoint answers
from its fallback, or 503 without one, while its breaker counts. The worker is started
again in the background with exponential backoff (0.5 s doubling to 30 s); while it is
down, calls fail at once instead of waiting.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import threading
import time
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from modelward.errors import ConfigError, InputError, ModelUnavailable
from modelward.serving.environments import build_environment, environment_lock
from modelward.serving.feeds import Feed, ModelInput, choose_feed, declared_inputs

__all__ = ["WORKER_SCRIPT", "ModelProcess", "WorkerDown", "load_in_process"]

_log = logging.getLogger("modelward.serving")
#: run with the environment's interpreter as a file: the environment has no modelward
WORKER_SCRIPT = Path(__file__).with_name("model_worker.py")
_FIRST_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 30.0


class WorkerDown(ModelUnavailable):
    """The model's worker process is not running (it died, hung or could not start)."""


def _payload(x: Any) -> tuple[Any, ...]:
    """A matrix or a DataFrame as plain values: ``("array", dtype, shape, bytes)`` or
    ``("frame", [(column, dtype or None, bytes or list)])``."""
    import numpy as np

    if isinstance(x, np.ndarray):
        x = np.ascontiguousarray(x)
        return ("array", x.dtype.str, x.shape, x.tobytes())
    columns = []
    for name in x.columns:
        values = x[name].to_numpy()
        if values.dtype.kind in "biuf":
            columns.append((str(name), values.dtype.str, np.ascontiguousarray(values).tobytes()))
        else:
            columns.append((str(name), None, values.tolist()))
    return ("frame", columns)


def _stop(proc: subprocess.Popen[bytes], conn: Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(OSError):  # the worker already went away
            conn.send(None)
        conn.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ModelProcess:
    """One worker process serving one pickled model, restarted when it dies.

    ``call`` is safe from many threads (one request on the socket at a time). Example::

        worker = ModelProcess(python, Path("model/model.pkl"), "cloudpickle", name="legacy@1")
        hello = worker.start()  # {"versions": {"scikit-learn": "1.5.2", ...}, ...}
        worker.call("positive", np.zeros((1, 4)))
    """

    def __init__(
        self,
        python: Path,
        model_file: Path,
        serialization: str,
        *,
        name: str,
        start_timeout_s: float = 120.0,
        call_timeout_s: float = 30.0,
    ) -> None:
        self.python = python
        self.model_file = model_file
        self.serialization = serialization
        self.name = name
        self.start_timeout_s = start_timeout_s
        self.call_timeout_s = call_timeout_s
        self.hello: dict[str, Any] = {}
        #: times the worker was started again after it went down
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self._down_reason: str | None = None
        self._restarting = False
        self._closed = threading.Event()
        self._finalizer: weakref.finalize[Any, ModelProcess] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> dict[str, Any]:
        """Start the worker and wait for its hello (the model unpickled); raises
        :class:`ModelUnavailable` with the worker's reason when it cannot load."""
        ours, theirs = socket.socketpair()
        try:
            proc = subprocess.Popen(
                [
                    str(self.python),
                    "-I",
                    str(WORKER_SCRIPT),
                    str(theirs.fileno()),
                    str(self.model_file),
                    self.serialization,
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            ours.close()
            raise ModelUnavailable(f"{self.name}: the worker could not start: {exc}") from None
        finally:
            theirs.close()
        conn = Connection(ours.detach())
        hello = self._await_hello(proc, conn)
        with self._lock:
            self._proc, self._conn, self.hello = proc, conn, hello
            self._down_reason = None
            if self._finalizer is not None:
                self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _stop, proc, conn)
        return hello

    def _await_hello(self, proc: subprocess.Popen[bytes], conn: Connection) -> dict[str, Any]:
        deadline = time.monotonic() + self.start_timeout_s
        while not conn.poll(0.2):
            if proc.poll() is not None or time.monotonic() > deadline:
                why = (
                    f"exited with status {proc.returncode}"
                    if proc.returncode is not None
                    else f"did not answer within {self.start_timeout_s:g} s"
                )
                if proc.returncode is None:
                    _stop(proc, None)
                conn.close()
                raise ModelUnavailable(f"{self.name}: the worker {why} before loading the model")
        try:
            hello: dict[str, Any] = conn.recv()
        except (EOFError, OSError) as exc:
            conn.close()
            _stop(proc, None)
            raise ModelUnavailable(f"{self.name}: the worker went away: {exc}") from None
        if not hello.get("ok"):
            conn.close()
            _stop(proc, None)
            raise ModelUnavailable(
                f"{self.name}: the worker could not load the model: {hello.get('error')}"
            )
        return hello

    def call(self, method: str, x: Any) -> list[Any]:
        """The model's outputs for ``x`` (a matrix or a DataFrame), computed in the worker."""
        message = (method, _payload(x))
        with self._lock:
            conn = self._conn
            if conn is None:
                raise WorkerDown(f"{self.name}: its worker process is down: {self._down_reason}")
            try:
                conn.send(message)
                if not conn.poll(self.call_timeout_s):
                    raise TimeoutError(f"no answer within {self.call_timeout_s:g} s")
                status, answer = conn.recv()
            except (OSError, EOFError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                self._went_down(reason)
                raise WorkerDown(f"{self.name}: its worker process failed: {reason}") from None
        if status != "ok":
            raise ValueError(answer)  # the model refused these rows; the worker is sound
        result: list[Any] = answer
        return result

    def _went_down(self, reason: str) -> None:
        """Under the lock: forget the worker (killed if still there), restart it later."""
        proc, conn = self._proc, self._conn
        self._conn = None
        self._down_reason = reason
        if conn is not None:
            conn.close()
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None:
            proc.wait()
        _log.error("model %s: worker process down (%s); restarting it", self.name, reason)
        if not self._restarting and not self._closed.is_set():
            self._restarting = True
            threading.Thread(target=self._restart, name=f"restart-{self.name}", daemon=True).start()

    def _restart(self) -> None:
        backoff = _FIRST_BACKOFF_S
        try:
            # a backoff between attempts, not a wait for a condition: the event ends it early
            while not self._closed.wait(backoff):
                try:
                    self.start()
                except ModelUnavailable as exc:
                    with self._lock:
                        self._down_reason = str(exc)
                    backoff = min(backoff * 2, _MAX_BACKOFF_S)
                    _log.error(
                        "model %s: restart failed, next in %g s: %s", self.name, backoff, exc
                    )
                    continue
                self.restarts += 1
                _log.info("model %s: worker process restarted (pid %s)", self.name, self.pid)
                return
        finally:
            with self._lock:
                self._restarting = False

    def close(self) -> None:
        """Stop the worker (it finishes the call it is on) and do not restart it."""
        self._closed.set()
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()
            self._conn = None
            self._down_reason = "closed"


def load_in_process(
    *,
    name: str,
    version: str,
    uri: str,
    local: Path,
    meta: dict[str, Any],
    output: str,
    signature: tuple[ModelInput, ...] | None,
    environments: Path,
    python: Path | None = None,
) -> tuple[ModelProcess, Callable[[Any], list[Any]], tuple[ModelInput, ...] | None, Feed]:
    """A worker process running the scikit-learn model in ``local`` from its own
    environment (built under ``environments``; ``python`` given: that interpreter), and
    what the loader makes a :class:`~modelward.serving.models.LoadedModel` of: the call,
    the inputs the model names, and its feed."""
    flavor = (meta.get("flavors") or {}).get("sklearn")
    if not flavor or not flavor.get("pickled_model"):
        names = ", ".join(sorted(meta.get("flavors") or {})) or "none"
        raise ConfigError(
            f"model {name}@{version}: isolation 'process' runs scikit-learn-flavoured models "
            f"(a pickled model file); this one's flavours: {names}",
            field="isolation",
        )
    serialization = str(flavor.get("serialization_format") or "cloudpickle")
    if python is None:
        python = build_environment(
            environment_lock(local, serialization=serialization), environments
        )
    worker = ModelProcess(
        python, local / str(flavor["pickled_model"]), serialization, name=f"{name}@{version}"
    )
    hello = worker.start()
    method = _method(hello, output)
    # what the model names, as the in-process loader reads it from the object itself
    shape = SimpleNamespace(feature_names_in_=hello.get("names"))
    inputs = declared_inputs(shape, signature)

    def predict(x: Any) -> list[Any]:
        return worker.call(method, x)

    return worker, predict, inputs, choose_feed(shape, inputs, pyfunc=False)


def _method(hello: dict[str, Any], output: str) -> str:
    """The worker's call for ``output``, chosen as the in-process loader chooses it."""
    if output == "proba" and not hello.get("proba"):
        raise InputError(
            f"output 'proba': the model ({hello.get('type')}) has no predict_proba",
            field="output",
        )
    if hello.get("proba") and output in ("auto", "proba"):
        return "positive" if hello.get("classes") == 2 else "proba"
    return "predict"
