"""Every JSON or TOML reader bounds what it reads: depth, number length, size.

``jsontext.decode`` is tried at and past each bound; then the readers that
use it or guard against the same recursion: an ingress's answer and a token
endpoint's (real sockets), the archive checks, the command's config file.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from support.peers import Peer, file_archive, status_then

from pipeline_collector.errors import ShipError
from pipeline_collector.jsontext import MAX_DEPTH, MAX_NUMBER, JsonRefused, decode, depth
from pipeline_collector.tools.checks import inspect_archive
from pipeline_collector.transports import HttpTransport, OAuth2ClientCredentials, RetryPolicy

ROOT = Path(__file__).resolve().parents[1]
CONTENT_TYPE = "application/vnd.redhat.tower.tower_payload+tgz"
ONCE = RetryPolicy(total=0, jitter=0.0, max_elapsed=None)


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


class TestDecode:
    def test_depth_at_and_past_the_bound(self) -> None:
        assert decode(nested(MAX_DEPTH)) is not None
        with pytest.raises(JsonRefused, match=f"nested deeper than {MAX_DEPTH} levels"):
            decode(nested(MAX_DEPTH + 1))
        with pytest.raises(JsonRefused, match="nested deeper"):
            decode("{" * 100_000)

    def test_brackets_inside_strings_do_not_count(self) -> None:
        text = '{"a": "' + "[" * 1000 + '\\"[[" }'
        assert depth(text) == 1
        assert decode(text) == {"a": "[" * 1000 + '"[['}

    def test_number_length_at_and_past_the_bound(self) -> None:
        assert decode("9" * MAX_NUMBER) == int("9" * MAX_NUMBER)
        assert decode("-" + "9" * (MAX_NUMBER - 1)) == -int("9" * (MAX_NUMBER - 1))
        with pytest.raises(JsonRefused, match=f"a number of {MAX_NUMBER + 1} characters"):
            decode("9" * (MAX_NUMBER + 1))
        with pytest.raises(JsonRefused, match="a number of 5,002 characters"):
            decode("[1e" + "9" * 5000 + "]")

    def test_size_at_and_past_the_bound(self) -> None:
        assert decode(b'"abc"', max_size=5) == "abc"
        with pytest.raises(JsonRefused, match="longer than 4 bytes"):
            decode(b'"abc"', max_size=4)

    def test_never_quotes_the_text(self) -> None:
        for text in ('{"token": "S3cret-x" oops', b'{"token": "S3cret-\xff"}'):
            with pytest.raises(JsonRefused) as caught:
                decode(text)
            assert "S3cret" not in str(caught.value)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "analytics-2026-11-01-000000+0000-0.tar.gz"
    path.write_bytes(os.urandom(4096))
    return path


class TestAnswers:
    def test_an_accepted_upload_whose_answer_nests_deep_is_still_accepted(
        self, archive: Path
    ) -> None:
        body = ('{"request_id": ' + nested(100_000) + "}").encode()
        with Peer(status_then(202, body)) as peer:
            transport = HttpTransport(url=peer.url, content_type=CONTENT_TYPE, retry=ONCE)
            receipt = transport.send(file_archive(archive))
        assert (receipt.status, receipt.request_id) == (202, None)

    def test_a_token_answer_that_nests_deep_is_a_ship_error(self, archive: Path) -> None:
        body = ('{"access_token": ' + nested(100_000) + "}").encode()
        with Peer(status_then(200, body)) as token_peer, Peer(status_then(202, b"{}")) as peer:
            auth = OAuth2ClientCredentials(
                token_url=token_peer.url,
                client_id="svc",
                client_secret="never-shown",  # noqa: S106 - a test value
                allow_insecure=True,
            )
            transport = HttpTransport(
                url=peer.url, content_type=CONTENT_TYPE, auth=auth, retry=ONCE, allow_insecure=True
            )
            with pytest.raises(ShipError, match="answered without an access_token"):
                transport.send(file_archive(archive))


def test_archive_checks_report_a_member_that_nests_too_deep(tmp_path: Path) -> None:
    path = tmp_path / "deep.tar.gz"
    data = nested(200_000).encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("./config.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    report = inspect_archive(path)
    assert "member ./config.json nests too deep to be read" in report.problems


def test_a_config_file_that_nests_too_deep_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "deep.toml"
    config.write_text("a = " + nested(100_000) + "\n")
    command = ["plan", "examples/jobs_collectors.py", "--config", str(config)]
    result = subprocess.run(
        [sys.executable, "-m", "pipeline_collector", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert f"config file {config} nests too deep to be read" in result.stderr
    assert "Traceback" not in result.stderr
