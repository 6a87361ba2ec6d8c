"""A deployable bundle: its id is its content, a changed file is caught on reading it, the
lock pins what is installed here, and a folder holding something else is never written."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import Any, cast

import pytest

from modelward.errors import Conflict, InputError
from modelward.serving.bundles import (
    MANIFEST,
    _dist_name,
    _manifest,
    _model_requirements,
    locked_requirements,
    package_endpoint,
    read_bundle,
)


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
