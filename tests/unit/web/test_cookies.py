"""The dashboard's signed cookies and its signing key."""

from __future__ import annotations

import stat
from pathlib import Path

from modelward.web import cookies


def test_a_session_cookie_reads_back_and_a_tampered_or_foreign_one_does_not(
    tmp_path: Path,
) -> None:
    jar = cookies.CookieJar(cookies.signing_key(tmp_path))
    value, held = jar.new_session("mwt_abc_secret")
    assert jar.read_session(value) == held
    assert jar.read_session(value[:-2] + ("AA" if not value.endswith("AA") else "BB")) is None
    other = cookies.CookieJar(b"another workspace's key")
    assert other.read_session(value) is None
    # a cookie of one kind is never accepted as another (the salts differ)
    signin, _ = jar.new_signin()
    assert jar.read_session(signin) is None
    assert jar.read_flash(value) is None
    assert jar.read_session(None) is None and jar.read_session("") is None


def test_the_csrf_check_needs_the_exact_value() -> None:
    assert cookies.same_secret("abc", "abc")
    assert not cookies.same_secret("abd", "abc")
    assert not cookies.same_secret(None, "abc") and not cookies.same_secret("", "abc")


def test_the_key_is_made_once_private_and_then_reused(tmp_path: Path) -> None:
    first = cookies.signing_key(tmp_path)
    assert cookies.signing_key(tmp_path) == first and len(first) == 64
    mode = stat.S_IMODE((tmp_path / "dashboard.key").stat().st_mode)
    assert mode == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["dashboard.key"]  # no temporary left
