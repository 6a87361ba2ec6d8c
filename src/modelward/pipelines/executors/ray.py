"""The Ray executor: each step a Ray task on the cluster at ``address``.

``[pipelines] executor = {type = "ray", address = "ray://head:10001"}`` (or ``"auto"`` for a
cluster started on this machine with ``ray start``; empty starts a private local
instance). Ray is imported only here, when chosen. Inputs travel to the task as bytes and
outputs come back as bytes, so workers need no shared disk for step data (steps that
open the workspace session still need the metadata database and the workspace files).

Failures are clear and bounded: Ray missing is a :class:`~modelward.errors.ConfigError`
naming the extra to install; an address that does not answer within ``connect_timeout_s``
is a ``ConfigError`` too, never a hang.
"""

from __future__ import annotations

import contextlib
import resource
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from modelward.errors import ConfigError
from modelward.pipelines.cache import ObjectStore, StoredValue
from modelward.pipelines.executors.base import StepOutcome

if TYPE_CHECKING:
    from modelward.pipelines.graph import Pipeline

__all__ = ["RayExecutor"]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "pipelines.executor: the 'ray' executor needs Ray, which is not installed here; "
            "install it with: pip install 'modelward[ray]'",
            field="pipelines.executor",
            executor="ray",
        ) from None
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    if address in ("", "auto", "local"):
        return None
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if not parts.hostname or not parts.port:
        raise ConfigError(
            f"pipelines.executor.address {address!r}: expected host:port or ray://host:port",
            field="pipelines.executor.address",
        )
    return parts.hostname, parts.port


def _run_in_ray(task: dict[str, Any], blobs: dict[str, bytes]) -> dict[str, Any]:
    """Runs inside a Ray worker process: stage the inputs, run the step, return the outputs."""
    from modelward.pipelines.worker import execute

    for entry in reversed(task.get("sys_path", [])):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix="mw-ray-step-"))
    try:
        objects = ObjectStore(staging / "objects", staging / "tmp")
        for spec in task["inputs"].values():
            stored = StoredValue.from_dict(spec)
            objects.put_bytes(stored, blobs[stored.hash])
        result = execute(task, objects)
        if result.get("ok"):
            result["blobs"] = {
                v["hash"]: objects.read_bytes(StoredValue.from_dict(v))
                for v in result["outputs"].values()
            }
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    after = resource.getrusage(resource.RUSAGE_SELF)
    result["wall_seconds"] = round(time.perf_counter() - started, 3)
    result["cpu_seconds"] = round(
        (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 3
    )
    # a Ray worker process is reused across tasks: its peak so far bounds the step's
    result["peak_memory_bytes"] = int(after.ru_maxrss) * 1024
    return result


class RayExecutor:
    """Steps as Ray tasks (``num_cpus`` each) on the cluster at ``address``."""

    name = "ray"

    def __init__(
        self,
        address: str = "",
        connect_timeout_s: float = 15.0,
        num_cpus: float = 1.0,
        local_num_cpus: int | None = None,
    ) -> None:
        self.address = address
        self.num_cpus = num_cpus
        ray = _import_ray()
        self._ray = ray
        self._owned = False
        target = _host_port(address)
        if target is not None:
            self._probe(target, connect_timeout_s)
        if ray.is_initialized():
            return  # a connection the caller made (a notebook, a test session) is reused
        self._connect(address, connect_timeout_s, local_num_cpus)
        self._owned = True

    def _probe(self, target: tuple[str, int], timeout: float) -> None:
        try:
            with socket.create_connection(target, timeout=timeout):
                return
        except OSError as exc:
            raise ConfigError(
                f"pipelines.executor: the Ray cluster at {self.address!r} is not reachable "
                f"({exc.strerror or exc}); check the address and that the cluster runs",
                field="pipelines.executor.address",
                executor="ray",
            ) from None

    def _connect(self, address: str, timeout: float, local_num_cpus: int | None) -> None:
        ray = self._ray
        kwargs: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False}
        if address in ("", "local"):
            kwargs["num_cpus"] = local_num_cpus or 1
        else:
            kwargs = {"address": address, "log_to_driver": False}
        failure: list[BaseException] = []

        def connect() -> None:
            try:
                ray.init(**kwargs)
            except BaseException as exc:  # reported to the caller below
                failure.append(exc)

        worker = threading.Thread(target=connect, daemon=True, name="modelward-ray-connect")
        worker.start()
        worker.join(timeout if address not in ("", "local") else max(timeout, 120.0))
        if worker.is_alive() or failure:
            reason = f"{failure[0]}" if failure else f"no answer within {timeout:g} s"
            raise ConfigError(
                f"pipelines.executor: cannot connect to Ray at {address or 'a local instance'!r}: "
                f"{reason}",
                field="pipelines.executor.address",
                executor="ray",
            )

    def run_step(
        self, task: Mapping[str, Any], objects: ObjectStore, pipeline: Pipeline
    ) -> StepOutcome:
        ray = self._ray
        payload = {**task, "sys_path": [p for p in sys.path if p]}
        blobs = {
            spec["hash"]: objects.read_bytes(StoredValue.from_dict(spec))
            for spec in task["inputs"].values()
        }
        remote = ray.remote(num_cpus=self.num_cpus, max_retries=0)(_run_in_ray)
        started = time.perf_counter()
        try:
            result: dict[str, Any] = ray.get(remote.remote(payload, blobs))
        except Exception as exc:  # the worker died or the cluster went away
            return StepOutcome(
                ok=False,
                error=f"RayTaskFailed: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                wall_seconds=round(time.perf_counter() - started, 3),
            )
        outcome = StepOutcome(
            ok=bool(result.get("ok")),
            error=result.get("error"),
            traceback=result.get("traceback"),
            error_details=result.get("error_details"),
            wall_seconds=result["wall_seconds"],
            cpu_seconds=result["cpu_seconds"],
            peak_memory_bytes=result["peak_memory_bytes"],
        )
        if outcome.ok:
            for name, spec in result["outputs"].items():
                stored = StoredValue.from_dict(spec)
                outcome.outputs[name] = objects.put_bytes(stored, result["blobs"][stored.hash])
        return outcome

    def close(self) -> None:
        if self._owned:
            with contextlib.suppress(Exception):
                self._ray.shutdown()
