"""Fuzzing ``modelward.toml`` and the ``MODELWARD_*`` variables over it.

Invariant: any file and any environment either open as settings or are refused with a
ConfigError naming the file; never another exception (which every command would show as
a crash). The documents are built from the real section and key names, with values of
every TOML kind, so that both accepted and refused settings are common.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from modelward.config.settings import Settings, load_settings
from modelward.errors import ConfigError

SECTIONS = {
    name: sorted(field.annotation.model_fields)
    for name, field in Settings.model_fields.items()
    if hasattr(field.annotation, "model_fields")
}  # type: ignore[union-attr]

literals = st.sampled_from(
    [
        "1",
        "-1",
        "0",
        "1.5",
        "nan",
        "inf",
        "true",
        '""',
        '"x"',
        '"sqlite:///x.db"',
        '"postgresql://u:secret@h/db"',
        "[1, 2]",
        '{type = "sqlite"}',
        '{type = "nope"}',
        "1979-05-27T07:32:00Z",
        '"\\u00e9"',
        "9223372036854775807",
    ]
)


@st.composite
def documents(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from([*SECTIONS, "backend", "unknown"]))
        lines.append(f"{key} = {draw(literals)}")
    for section in draw(st.lists(st.sampled_from([*SECTIONS, "nosuch"]), max_size=3, unique=True)):
        lines.append(f"[{section}]")
        names = [*SECTIONS.get(section, []), "typo"]
        for _ in range(draw(st.integers(0, 3))):
            lines.append(f"{draw(st.sampled_from(names))} = {draw(literals)}")
    return "\n".join(lines) + "\n"


environments = st.dictionaries(
    st.sampled_from(
        [
            "MODELWARD_DATA__BATCH_ROWS",
            "MODELWARD_STORE__BUSY_TIMEOUT_S",
            "MODELWARD_SERVING__MAX_CONCURRENCY",
            "MODELWARD_STORE",
            "MODELWARD_NOSUCH__X",
            "MODELWARD_DATA__NOSUCH",
            "MODELWARD_IDENTITY__USER",
        ]
    ),
    st.sampled_from(["1", "0", "-5", "abc", "", "2048", "1e3", "true"]),
    max_size=3,
)


def _open(path: Path, environ: dict[str, str]) -> Settings | None:
    try:
        return load_settings(path, environ)
    except ConfigError as exc:
        refused = exc
    assert str(path) in str(refused)
    # a password in a URL is never echoed (the message may say "the secrets file")
    assert ":secret@" not in str(refused) and "secret@" not in str(refused)
    return None


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=documents(), environ=environments)
@example(text='store = "not a table"\n', environ={})
@example(text="store = [1]\n", environ={})
def test_any_config_opens_or_is_refused_naming_the_file(
    tmp_path: Path, text: str, environ: dict[str, str]
) -> None:
    path = tmp_path / "modelward.toml"
    path.write_text(text, encoding="utf-8")
    opened = _open(path, environ)
    event("opened" if opened is not None else "refused")


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=60))
@example(raw=b"\xff\xfe[store]\n")
@example(raw=b'[store]\nurl = "\xe9"\n')
def test_any_bytes_open_or_are_refused_naming_the_file(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "modelward.toml"
    path.write_bytes(raw)
    event("opened" if _open(path, {}) is not None else "refused")


@pytest.mark.parametrize("text", ['store = "x"\n', "store = 3\n", "store = [1]\n"])
def test_a_section_that_is_not_a_table_is_named(tmp_path: Path, text: str) -> None:
    path = tmp_path / "modelward.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="store"):
        load_settings(path, {})


def test_a_file_that_is_not_utf8_is_refused_as_such(tmp_path: Path) -> None:
    path = tmp_path / "modelward.toml"
    path.write_bytes(b'[identity]\nuser = "\xe9"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        load_settings(path, {})
