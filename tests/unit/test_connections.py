"""Connection URLs shown to people: the password is never part of them."""

from __future__ import annotations

import pytest

from modelward.connections import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://ops:s3cret@cache/1", "redis://ops:***@cache/1"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("postgresql+psycopg://u:p%40ss@db/x", "postgresql+psycopg://u:***@db/x"),
    ],
)
def test_a_url_never_shows_its_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cret" not in redact_url(url)


def test_a_user_name_is_kept_and_the_host_and_port_are_shown_whole() -> None:
    # the message must still say which server and which account, only not the secret
    shown = redact_url("postgresql://ops:pw@db.internal:5433/metadata?sslmode=require")
    assert shown == "postgresql://ops:***@db.internal:5433/metadata?sslmode=require"


def test_a_url_that_cannot_be_parsed_is_not_echoed() -> None:
    # an unparseable URL may still hold a password: it is replaced, never shown as given
    assert redact_url("redis://:s3cret@[::1") == "<unparseable url>"
