"""A deployable bundle: its id is its content, a changed file is caught on reading it, the
lock pins what is installed here, and a folder holding something else is never written."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from modelward.config import Workspace
from modelward.errors import Conflict, InputError
from modelward.registry.evidence import list_evidence
from modelward.security import Role
from modelward.serving import EndpointSpec
from modelward.serving.bundles import (
    MANIFEST,
    _dist_name,
    _manifest,
    _model_requirements,
    locked_requirements,
    package_endpoint,
    read_bundle,
)
from modelward.serving.endpoints import create_endpoint
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, placeholder_version, principal

pytestmark = MLFLOW_WARNINGS


def bundle_at(root: Path, files: dict[str, str]) -> Path:
    """A bundle folder holding ``files``, with the manifest a packaging run writes."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    bundle_id, digests = _manifest(root)
    manifest = {"id": bundle_id, "endpoint": "churn", "version": "churn@3", "files": digests}
    (root / MANIFEST).write_text(json.dumps(manifest))
    return root


FILES = {"endpoint.json": "{}", "model/MLmodel": "flavors: {}", "requirements.lock": "x==1\n"}


def test_the_same_files_give_the_same_id_wherever_they_are(tmp_path: Path) -> None:
    one = read_bundle(bundle_at(tmp_path / "one", FILES))
    two = read_bundle(bundle_at(tmp_path / "two", dict(reversed(FILES.items()))))
    assert one.id == two.id and one.id.startswith("sha256:")
    assert sorted(one.files) == ["endpoint.json", "model/MLmodel", "requirements.lock"]
    assert (one.endpoint, one.version, one.created) == ("churn", "churn@3", False)
    other = read_bundle(bundle_at(tmp_path / "three", {**FILES, "endpoint.json": "{ }"}))
    assert other.id != one.id


def test_wheels_an_image_build_adds_are_not_part_of_the_bundle(tmp_path: Path) -> None:
    root = bundle_at(tmp_path / "b", FILES)
    before = read_bundle(root).id
    (root / "wheels").mkdir()
    (root / "wheels" / "x-1-py3-none-any.whl").write_bytes(b"PK")
    assert read_bundle(root).id == before


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (lambda root: (root / "model" / "MLmodel").write_text("flavors: {x: 1}"), "model/MLmodel"),
        (lambda root: (root / "model" / "extra.pkl").write_bytes(b"\x80"), "model/extra.pkl"),
        (lambda root: (root / "requirements.lock").unlink(), "requirements.lock"),
    ],
    ids=["changed", "added", "removed"],
)
def test_a_bundle_whose_files_differ_from_its_manifest_is_refused_naming_them(
    tmp_path: Path, tamper: Any, named: str
) -> None:
    root = bundle_at(tmp_path / "b", FILES)
    tamper(root)
    with pytest.raises(InputError, match="files differ from the manifest") as refused:
        read_bundle(root)
    assert f"({named})" in refused.value.message  # the one file that differs, alone
    assert refused.value.details["file"] == str(root)


def test_a_folder_without_a_readable_manifest_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=f"not a bundle \\(no readable {MANIFEST}"):
        read_bundle(tmp_path)
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(InputError, match="not a bundle"):
        read_bundle(tmp_path)


def test_packaging_into_a_folder_holding_other_files_is_refused_before_any_work(
    tmp_path: Path,
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    no_session = cast(Any, None)  # refused before the workspace is read
    with pytest.raises(Conflict, match="not empty and not a bundle; give a new folder"):
        package_endpoint(no_session, "churn", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    ("requirement", "name"),
    [
        ("scikit-learn>=1.5", "scikit-learn"),
        ("numpy ; python_version >= '3.0'", "numpy"),
        ("colorama; sys_platform == 'no-such-platform'", None),  # not for this platform
        ('pytest; extra == "dev"', None),  # an extra's
        ("pkg; not a marker ((", None),
        ("-e .", None),  # not a requirement of a distribution
    ],
)
def test_a_requirement_names_its_distribution_only_where_it_applies(
    requirement: str, name: str | None
) -> None:
    assert _dist_name(requirement) == name


def test_the_lock_pins_the_installed_closure_and_skips_what_is_not_installed() -> None:
    lock = locked_requirements(["orjson", "no-such-distribution-here", "pip"])
    assert lock == [f"orjson=={importlib.metadata.version('orjson')}"]
    closure = locked_requirements(["httpx"])
    names = {line.split("==")[0].lower() for line in closure}
    assert {"httpx", "httpcore", "anyio", "idna"} <= names  # what httpx itself requires
    assert closure == sorted(closure, key=str.lower)


def test_a_models_requirements_file_adds_its_packages(tmp_path: Path) -> None:
    assert _model_requirements(tmp_path) == []  # a model without one
    (tmp_path / "requirements.txt").write_text(
        "# written by mlflow\n-r other.txt\nscikit-learn==1.5.2\n\nlightgbm; extra == 'x'\n"
    )
    assert _model_requirements(tmp_path) == ["scikit-learn"]


def test_the_id_is_the_sha256_of_the_sorted_path_and_hash_lines(tmp_path: Path) -> None:
    # a bundle id is recorded as evidence: the way it is computed may not drift
    read = read_bundle(bundle_at(tmp_path / "b", FILES))
    listing = "\n".join(f"{p} {d}" for p, d in sorted(read.files.items()))
    assert read.id == "sha256:" + hashlib.sha256(listing.encode()).hexdigest()
    assert read.files["endpoint.json"] == hashlib.sha256(b"{}").hexdigest()
    assert read.path == tmp_path / "b"


def test_a_manifest_whose_id_alone_was_changed_is_refused(tmp_path: Path) -> None:
    root = bundle_at(tmp_path / "b", FILES)
    manifest = json.loads((root / MANIFEST).read_text())
    (root / MANIFEST).write_text(json.dumps({**manifest, "id": "sha256:" + "0" * 64}))
    with pytest.raises(InputError, match="files differ from the manifest"):
        read_bundle(root)


def test_a_refusal_names_at_most_five_of_the_files_that_differ(tmp_path: Path) -> None:
    root = bundle_at(tmp_path / "b", FILES)
    for i in range(6):
        (root / f"extra-{i}.txt").write_text(str(i))
    with pytest.raises(InputError) as refused:
        read_bundle(root)
    assert "(extra-0.txt, extra-1.txt, extra-2.txt, extra-3.txt, extra-4.txt)" in (
        refused.value.message
    )


def test_not_a_bundle_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError) as refused:
        read_bundle(tmp_path)
    assert refused.value.details == {"file": str(tmp_path)}
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(Conflict) as conflict:
        package_endpoint(cast(Any, None), "churn", tmp_path)
    assert conflict.value.details == {"path": str(tmp_path)}


def test_one_distribution_under_two_spellings_is_pinned_once_in_case_blind_order() -> None:
    lock = locked_requirements(["pydantic_core", "Pydantic-Core", "Jinja2", "anyio"])
    names = [line.split("==")[0] for line in lock]
    assert names.count("pydantic_core") == 1
    assert names == sorted(names, key=str.lower) and names[0] == "anyio"  # a before J
    assert "MarkupSafe" in names  # what Jinja2 requires


@pytest.fixture
def packaged_session(sqlite_workspace: Workspace) -> Iterator[Session]:
    """A session with endpoint ``churn`` on a registered version whose artifact is a small
    folder (an ``MLmodel`` and a ``requirements.txt``), not a trained model."""
    with Session(sqlite_workspace) as session:
        version = placeholder_version(session)
        folder = Path(version.model_uri.removeprefix("file://"))
        (folder / "MLmodel").write_text("flavors: {}\n")
        (folder / "requirements.txt").write_text("orjson\n")
        spec = EndpointSpec(name="churn", model=version.ref, request={"tenure": "float"})
        create_endpoint(session, principal(session, "olga", Role.OPERATOR), spec)
        yield session


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_packaged_endpoint_is_the_same_bundle_wherever_and_whenever_made(
    packaged_session: Session, tmp_path: Path
) -> None:
    out = tmp_path / "bundles"  # beside the workspace, which is in tmp_path too
    first = package_endpoint(packaged_session, "churn", out / "one")
    assert first.created and (first.endpoint, first.version) == ("churn", "churn@1")
    top = sorted({name.split("/")[0] for name in first.files})
    assert top == ["Containerfile", "endpoint.json", "features.json", "model", "requirements.lock"]
    assert any(name.endswith("/MLmodel") for name in first.files)  # the artifact, copied
    assert read_bundle(out / "one").id == first.id
    described = json.loads((out / "one" / "endpoint.json").read_text())
    assert (described["model"], described["spec"]["name"]) == ("churn@1", "churn")
    lock = (out / "one" / "requirements.lock").read_text().splitlines()
    assert any(line.lower().startswith("modelward==") for line in lock)
    # nothing but the bundle beside it: the staging folder is gone
    assert sorted(p.name for p in out.iterdir()) == ["one"]
    again = package_endpoint(packaged_session, "churn", out / "one")
    assert (again.id, again.created) == (first.id, False)  # already there: not an error
    elsewhere = package_endpoint(packaged_session, "churn", out / "two")
    assert elsewhere.id == first.id
    [recorded, *_] = list_evidence(packaged_session, kind="bundle")
    assert (recorded.subject, recorded.passed) == ("churn@1", True)
    assert recorded.detail["id"] == first.id


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_packaging_into_a_folder_holding_another_bundle_is_a_conflict(
    packaged_session: Session, tmp_path: Path
) -> None:
    other = read_bundle(bundle_at(tmp_path / "bundles" / "out", FILES))
    with pytest.raises(Conflict, match=f"holds bundle {other.id[:19]}..., not this one"):
        package_endpoint(packaged_session, "churn", tmp_path / "bundles" / "out")
    assert read_bundle(tmp_path / "bundles" / "out").id == other.id  # left as it was
    assert sorted(p.name for p in (tmp_path / "bundles").iterdir()) == ["out"]
