"""``modelward endpoints package``: an endpoint as a versioned, deployable bundle.

A bundle is a folder that serves one endpoint without the workspace it came from:

| file | what |
| --- | --- |
| ``endpoint.json`` | the endpoint definition, and the version its model reference resolved to |
| ``model/`` | the version's MLflow model, byte for byte |
| ``features.json`` | the feature views and on-demand views it reads, with definition hashes |
| ``features.py`` | the definitions module (the on-demand transform code), when it reads any |
| ``requirements.lock`` | ``name==version`` of every package serving it needs, as installed |
| ``Containerfile`` | an OCI image recipe (``buildah bud`` / ``podman build``; docs/serving.md) |
| ``manifest.json`` | every file's SHA-256 and the bundle id |

The bundle id is the SHA-256 of the sorted (path, file hash) list, and nothing in the
files depends on when or where the bundle was made, so the same inputs give the same
id. It is built in a temporary folder beside ``out`` and renamed into place (a crash
leaves no half bundle), then recorded as ``bundle`` evidence of the version, where its
lineage report and the readiness report find it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelward.errors import Conflict, InputError, StorageError

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["BUNDLE_FORMAT", "Bundle", "locked_requirements", "package_endpoint", "read_bundle"]

BUNDLE_FORMAT = 1
MANIFEST = "manifest.json"
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
#: packages a bundle never pins: the installer itself, and what only tests or builds use
_NOT_PINNED = {"pip", "setuptools", "wheel"}

CONTAINERFILE = """\
# An image serving this bundle: `buildah bud -t {name}:bundle .` or `podman build ...`
# (docs/serving.md, "Deployable bundles"). The base must hold Python {python}; without
# a reachable registry, build one with debootstrap and import it as {base}.
FROM {base}
WORKDIR /bundle
COPY . /bundle
# every package is pinned in the lock and installed from wheels/ (pip wheel -r
# requirements.lock, plus modelward's own wheel): nothing is resolved or fetched here
RUN python3 -m venv /venv \\
 && /venv/bin/pip install --no-cache-dir --no-index --no-deps --find-links wheels \\
      -r requirements.lock
EXPOSE 8700
# the callers' token comes from the environment: MODELWARD_BUNDLE_TOKEN
CMD ["/venv/bin/modelward", "endpoints", "serve-bundle", "/bundle", "--host", "0.0.0.0", \\
     "--port", "8700", "--state", "/var/lib/modelward"]
"""


@dataclass(frozen=True)
class Bundle:
    id: str
    path: Path
    endpoint: str
    version: str
    files: dict[str, str]
    #: False when ``out`` already held this very bundle
    created: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": str(self.path),
            "endpoint": self.endpoint,
            "version": self.version,
            "files": self.files,
            "created": self.created,
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _dist_name(requirement: str) -> str | None:
    """``scikit-learn>=1.5; extra == "x"`` -> ``scikit-learn``; None for an extra's, and for
    one whose environment marker does not hold here (``colorama; platform_system ==
    "Windows"``): the lock is for this platform, as installed."""
    from packaging.markers import InvalidMarker, Marker

    name, _, marker = requirement.partition(";")
    if marker.strip():
        if "extra" in marker:
            return None
        try:
            if not Marker(marker.strip()).evaluate():
                return None
        except InvalidMarker:
            return None
    found = _REQ_NAME.match(name)
    return found.group(1) if found else None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_requirements(roots: list[str]) -> list[str]:
    """``name==version`` of ``roots`` and everything they require, as installed here.

    The closure follows each installed distribution's own requirements (extras left
    out); a requirement that is not installed is skipped, since what is not installed
    does not serve the model here either.
    """
    pinned: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = _canonical(todo.pop())
        if name in pinned or name in _NOT_PINNED:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        pinned[name] = f"{dist.metadata['Name']}=={dist.version}"
        todo.extend(n for r in dist.requires or [] if (n := _dist_name(r)) is not None)
    return sorted(pinned.values(), key=str.lower)


def _model_requirements(model_dir: Path) -> list[str]:
    path = model_dir / "requirements.txt"
    if not path.is_file():
        return []
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "-")) and (n := _dist_name(line)) is not None:
            names.append(n)
    return names


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", "utf-8")


def _feature_files(session: Session, spec: Any, into: Path) -> list[dict[str, Any]]:
    """features.json (and the definitions module) for an endpoint reading features."""
    views = sorted({f.partition(":")[0] for f in spec.features} | set(spec.transforms))
    used: list[dict[str, Any]] = []
    if views:
        from modelward.features import load_catalog

        catalog = load_catalog(session)
        for name in views:
            view = catalog.view(name)
            used.append({"name": name, "definition_hash": view.definition_hash})
        source = Path(session.workspace.settings.features.definitions)
        source = source if source.is_absolute() else session.workspace.root / source
        shutil.copyfile(source, into / "features.py")
    _write_json(into / "features.json", used)
    return used


def _build(session: Session, name: str, into: Path) -> tuple[str, str]:
    import platform

    import mlflow

    from modelward.registry import get_version, using_workspace
    from modelward.serving.endpoints import get_endpoint

    endpoint = get_endpoint(session, name)
    version = get_version(session, endpoint.spec.model)
    with using_workspace(session.workspace):
        mlflow.artifacts.download_artifacts(
            artifact_uri=version.model_uri, dst_path=str(into / "model")
        )
    spec = endpoint.spec.model_dump(mode="json")
    _write_json(
        into / "endpoint.json",
        {"format": BUNDLE_FORMAT, "spec": spec, "model": version.ref},
    )
    _feature_files(session, endpoint.spec, into)
    roots = ["modelward", *_model_requirements(into / "model")]
    (into / "requirements.lock").write_text("\n".join(locked_requirements(roots)) + "\n", "utf-8")
    python = ".".join(platform.python_version_tuple()[:2])
    (into / "Containerfile").write_text(
        CONTAINERFILE.format(name=name, python=python, base=f"localhost/debian-python{python}"),
        "utf-8",
    )
    return endpoint.name, version.ref


def _manifest(root: Path) -> tuple[str, dict[str, str]]:
    files = {
        p.relative_to(root).as_posix(): _sha256(p)
        for p in sorted(root.rglob("*"))
        # wheels/ is where an image build puts what it installs from: not the bundle
        if p.is_file() and p.name != MANIFEST and p.relative_to(root).parts[0] != "wheels"
    }
    listing = "\n".join(f"{path} {digest}" for path, digest in sorted(files.items()))
    return "sha256:" + hashlib.sha256(listing.encode()).hexdigest(), files


def read_bundle(path: Path) -> Bundle:
    """The bundle at ``path``, its files checked against its manifest."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{path}: not a bundle (no readable {MANIFEST}: {exc})", file=str(path)
        ) from None
    bundle_id, files = _manifest(path)
    if bundle_id != manifest.get("id") or files != manifest.get("files"):
        # a changed file is in both sides' (path, hash) pairs: name it once
        changed = sorted(
            {p for p, _ in set(files.items()) ^ set((manifest.get("files") or {}).items())}
        )
        raise InputError(
            f"{path}: files differ from the manifest ({', '.join(changed[:5])})",
            file=str(path),
        )
    return Bundle(bundle_id, path, manifest["endpoint"], manifest["version"], files, created=False)


def package_endpoint(session: Session, name: str, out: Path) -> Bundle:
    """Write endpoint ``name`` as a bundle into folder ``out`` (new or empty) and record it.

    ``out`` already holding the same bundle is not an error (the same id comes back,
    ``created`` False); holding anything else is a :class:`Conflict`.
    """
    from modelward.registry import record_evidence

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise Conflict(f"{out}: not empty and not a bundle; give a new folder", path=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        endpoint, version = _build(session, name, staging)
        bundle_id, files = _manifest(staging)
        _write_json(
            staging / MANIFEST,
            {
                "id": bundle_id,
                "format": BUNDLE_FORMAT,
                "endpoint": endpoint,
                "version": version,
                "files": files,
            },
        )
        if out.exists() and any(out.iterdir()):
            existing = read_bundle(out)
            if existing.id != bundle_id:
                raise Conflict(
                    f"{out}: holds bundle {existing.id[:19]}..., not this one "
                    f"({bundle_id[:19]}...)",
                    path=str(out),
                )
            return existing
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except OSError as exc:
        raise StorageError(f"{out}: the bundle could not be written: {exc.strerror}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    record_evidence(
        session,
        "bundle",
        version,
        summary=f"bundle {bundle_id[:19]}... of endpoint {endpoint} ({len(files)} files)",
        detail={"id": bundle_id, "endpoint": endpoint, "files": files},
        passed=True,
        endpoint=endpoint,
    )
    return Bundle(bundle_id, out, endpoint, version, files)
