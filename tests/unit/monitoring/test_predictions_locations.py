"""Where the segments log keeps its objects: a folder or an S3 prefix whose URL carries no
credential, objects visible whole or not at all, and no credential in a message."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.monitoring.predictions.locations import (
    at_range,
    check_endpoint_url,
    check_log_path,
    open_location,
)


@pytest.mark.parametrize("path", ["", "logs", "/var/log/mw", "s3://bucket", "s3://bucket/pre/fix"])
def test_a_folder_or_an_s3_prefix_is_a_log_path(path: str) -> None:
    assert check_log_path(path) == path


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("gs://bucket/x", "must be s3://bucket/prefix (got the scheme 'gs')"),
        ("s3://AKIA:secret@bucket/x", "credentials do not go in the URL"),
        ("s3:///x", "names a bucket"),
        ("s3://bucket/x?region=eu", "has no query"),
    ],
)
def test_a_bad_log_path_says_the_rule_and_never_echoes_a_credential(path: str, says: str) -> None:
    with pytest.raises(ValueError) as info:
        check_log_path(path)
    assert says in str(info.value)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize("url", ["", "http://127.0.0.1:9000", "https://s3.example.com"])
def test_an_s3_compatible_server_is_a_scheme_host_and_port(url: str) -> None:
    assert check_endpoint_url(url) == url


@pytest.mark.parametrize(
    "url", ["ftp://host", "http://", "http://k:s@host", "http://host/path", "http://host?x=1"]
)
def test_anything_more_than_a_server_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        check_endpoint_url(url)


def test_a_relative_folder_is_under_the_workspace_and_the_default_is_its_home(
    tmp_path: Path,
) -> None:
    assert open_location("", tmp_path).root == str(tmp_path / ".modelward" / "predictions")
    assert open_location("logs", tmp_path).root == str(tmp_path / "logs")
    assert open_location("s3://bucket/pre/", tmp_path).label == "s3://bucket/pre"


def test_objects_are_listed_without_temporaries_and_written_whole(tmp_path: Path) -> None:
    location = open_location("", tmp_path)
    table = pa.table({"cursor": ["a", "b"], "at_us": pa.array([5, 9], pa.int64())})
    location.put("churn", "part-1.parquet", table)
    (Path(location.root) / "churn" / ".part-2.parquet.ab12.tmp").write_bytes(b"half")
    assert location.names("churn") == ["part-1.parquet"]
    assert location.endpoints() == ["churn"]
    assert location.read("churn", "part-1.parquet").equals(table)
    assert at_range(location.metadata("churn", "part-1.parquet")) == (5, 9)
    location.delete("churn", "part-1.parquet")
    location.delete("churn", "part-1.parquet")  # already gone: a retry, not an error
    assert location.names("churn") == [] and location.names("fraud") == []


def test_a_file_without_time_statistics_has_the_widest_range_so_it_is_read(
    tmp_path: Path,
) -> None:
    # an empty row group carries no min/max: the range is unknown, and an unknown range
    # must never make a reader skip the file
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"at_us": pa.array([], pa.int64())}), path)
    assert at_range(pq.read_metadata(path)) == (0, 2**62)


def test_a_message_about_the_store_has_the_environments_credentials_cut_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI")
    location = open_location("s3://bucket/pre", tmp_path, endpoint_url="http://127.0.0.1:1")
    text = location.describe(OSError(13, "signature wJalrXUtnFEMI does not match"))
    assert text == "signature *** does not match"
