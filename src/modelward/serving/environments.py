"""Virtualenvs for models served in a worker process, built once per lock and kept.

A model that runs isolated (``[serving] isolation``, see
:mod:`~modelward.serving.model_process`) runs in an environment made from its own pinned
requirements: the ``requirements.txt`` MLflow wrote beside the model when it was logged
(``scikit-learn==1.5.2``, ``cloudpickle==...``), which a deployable bundle carries in its
``model/`` folder. MLflow itself is left out: the worker unpickles the model's flavour
file and needs no tracking client, so the environment holds the model's libraries only.

Building one takes minutes (pip resolves and installs numpy, scipy, the model's library),
so it is cached under the lock's hash: the folder ``py3.11-<hash>`` under the
environments root, and a model whose lock is the same reuses it. The build happens in a
temporary folder beside it and is renamed into place when pip has finished (a crash
leaves no half environment that looks ready), under a file lock so two gateway workers
starting together build it once.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from modelward.errors import ConfigError, StorageError

__all__ = ["ENVIRONMENT_READY", "build_environment", "environment_lock", "lock_hash"]

#: the file that marks a finished environment (written last, before the rename)
ENVIRONMENT_READY = "environment.json"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
#: what MLflow pins beside every model and a worker never imports
_LEFT_OUT = {"mlflow", "mlflow-skinny"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def environment_lock(model_dir: Path, *, serialization: str = "cloudpickle") -> list[str]:
    """The requirement lines a worker environment for the MLflow model in ``model_dir`` is
    built from: its ``requirements.txt`` without MLflow (and with ``cloudpickle`` when the
    model was pickled by it but does not name it), sorted."""
    path = model_dir / "requirements.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise ConfigError(
            f"{model_dir}: no requirements.txt beside the model, so the environment it "
            "needs is unknown (isolation = 'process' builds it from that file)",
            field="isolation",
        ) from None
    lines: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        found = _NAME.match(line)
        if not line or line.startswith(("#", "-")) or found is None:
            continue
        name = _canonical(found.group(1))
        if name not in _LEFT_OUT:
            lines[name] = line
    if serialization == "cloudpickle" and "cloudpickle" not in lines:
        lines["cloudpickle"] = "cloudpickle"
    return [lines[n] for n in sorted(lines)]


def lock_hash(lock: list[str]) -> str:
    """What names an environment: the lock's lines and the interpreter's version."""
    python = f"{sys.implementation.name}-{sys.version_info.major}.{sys.version_info.minor}"
    return hashlib.sha256("\n".join([python, *lock]).encode()).hexdigest()


def _python(env: Path) -> Path:
    return env / "bin" / "python"


def build_environment(lock: list[str], root: Path) -> Path:
    """The interpreter of the environment for ``lock`` under ``root``, built if missing."""
    from filelock import FileLock

    digest = lock_hash(lock)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    target = root / f"py{version}-{digest[:16]}"
    if (target / ENVIRONMENT_READY).is_file():
        return _python(target)
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{digest[:16]}.lock")):
        if (target / ENVIRONMENT_READY).is_file():  # another worker built it meanwhile
            return _python(target)
        staging = Path(tempfile.mkdtemp(prefix=f".build-{digest[:16]}-", dir=root))
        try:
            _install(lock, staging)
            (staging / ENVIRONMENT_READY).write_text(
                json.dumps({"lock": lock, "hash": digest, "python": version}, indent=2) + "\n",
                encoding="utf-8",
            )
            staging.rename(target)
        except OSError as exc:
            raise StorageError(f"{target}: the environment could not be written: {exc}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return _python(target)


def _install(lock: list[str], into: Path) -> None:
    # the venv's interpreter is a link to this one's base: it survives the rename, and
    # pip runs from here (``--python``), so the environment needs no pip of its own
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(into)],
        check=True,
        capture_output=True,
    )
    requirements = into / "requirements.lock"
    requirements.write_text("\n".join(lock) + "\n", encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(_python(into)),
            "install",
            "--no-input",
            "--disable-pip-version-check",
            "--quiet",
            "-r",
            str(requirements),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise ConfigError(
            f"the environment for {', '.join(lock)} could not be installed: {tail}",
            field="isolation",
        )
