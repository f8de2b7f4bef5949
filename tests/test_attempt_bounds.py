"""What a hostile peer can stretch: an attempt's time and what is read of an answer.

Every peer here is a real socket on 127.0.0.1.  Time bounds are asserted by
what happened (the error names the deadline; the peer had more to send), and
memory bounds by the bytes the client let in, never by the clock or RSS.
"""

from __future__ import annotations

import json
import os
import ssl
from pathlib import Path

import pytest
import requests
import trustme
from structlog.testing import capture_logs
from support.peers import (
    MIB,
    Peer,
    file_archive,
    gzip_of_zeros,
    huge,
    silent,
    status_then,
    trickle,
)

from pipeline_collector.errors import ShipError
from pipeline_collector.transports import HttpTransport, OAuth2ClientCredentials, RetryPolicy
from pipeline_collector.transports.messages import Bytes, NoAnswer, Request
from pipeline_collector.transports.sender import RequestsSender

CONTENT_TYPE = "application/vnd.redhat.tower.analytics+tgz"
SOCKET_BUFFERS = 16 * MIB  # more than loopback's send and receive buffers can hold together
ONCE = RetryPolicy(total=0, jitter=0.0, max_elapsed=None)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "analytics-2026-11-01-000000+0000-0.tar.gz"
    path.write_bytes(os.urandom(64 * 1024))
    return path


def transport(url: str, **kwargs: object) -> HttpTransport:
    options: dict[str, object] = {
        "timeout": (5.0, 5.0),
        "retry": ONCE,
        "sleep": lambda seconds: None,
        **kwargs,
    }
    return HttpTransport(url=url, content_type=CONTENT_TYPE, **options)  # type: ignore[arg-type]


class TestAttemptDeadline:
    """An attempt ends at its deadline, whatever the peer keeps doing."""

    def test_trickled_answer_is_cut_at_the_deadline(self, archive: Path) -> None:
        """A 202 followed by one byte every 0.2 s ends the attempt when attempt_timeout passes."""
        with Peer(trickle(202)) as peer, pytest.raises(ShipError) as caught:
            transport(peer.url, attempt_timeout=1.0).send(file_archive(archive))
        assert "deadline of 1 s" in str(caught.value)
        assert caught.value.attempts == 1
        assert caught.value.maybe_delivered  # the body had gone out
        assert peer.sent < 1000  # the peer had 2**30 bytes to trickle

    @pytest.mark.parametrize("how", ["chunked", "in_headers"])
    def test_trickle_in_chunks_or_headers_is_cut_too(self, archive: Path, how: str) -> None:
        """A trickle of one-byte chunks, or of a header line that never ends, is cut as well."""
        with Peer(trickle(202, **{how: True})) as peer, pytest.raises(ShipError) as caught:
            transport(peer.url, attempt_timeout=1.0).send(file_archive(archive))
        assert "deadline of 1 s" in str(caught.value)
        assert peer.sent < 1000

    def test_peer_that_never_reads_the_upload_is_cut(self, tmp_path: Path) -> None:
        """A peer that takes the headers and never reads the body cannot hold the upload."""
        path = tmp_path / "big.tar.gz"
        path.write_bytes(os.urandom(32 * MIB))  # far more than the socket buffers hold
        with Peer(silent(), read_body=False) as peer, pytest.raises(ShipError) as e:
            transport(peer.url, attempt_timeout=1.0).send(file_archive(path))
        assert "deadline of 1 s" in str(e.value)
        assert not e.value.maybe_delivered  # the body never all went out
        assert len(peer.requests) == 1

    def test_trickle_over_tls_is_cut_too(self, archive: Path, tmp_path: Path) -> None:
        """Over TLS the deadline shuts the socket under the TLS layer just the same."""
        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        with Peer(trickle(202), tls=context) as peer, pytest.raises(ShipError) as caught:
            transport(peer.url, attempt_timeout=1.0, verify=str(tmp_path / "ca.pem")).send(
                file_archive(archive)
            )
        assert "deadline of 1 s" in str(caught.value)
        assert peer.sent < 1000

    def test_own_session_is_cut_between_reads(self, archive: Path) -> None:
        """With a session of the caller's, the deadline is looked at between answer reads."""
        with (
            requests.Session() as session,
            Peer(trickle(202)) as peer,
            pytest.raises(ShipError) as caught,
        ):
            transport(peer.url, attempt_timeout=1.0, session=session).send(file_archive(archive))
        assert "deadline of 1 s" in str(caught.value)
        assert peer.sent < 1000

    def test_answer_within_the_deadline_is_accepted(self, archive: Path) -> None:
        """At the bound: a slow answer that ends before the deadline is a receipt."""
        with Peer(trickle(202, count=3, every=0.1)) as peer:
            receipt = transport(peer.url, attempt_timeout=10.0).send(file_archive(archive))
        assert receipt.status == 202 and receipt.attempts == 1

    def test_max_elapsed_cuts_the_attempt_under_way(self, archive: Path) -> None:
        """send() as a whole ends at max_elapsed, even inside an attempt, and retries no more."""
        policy = RetryPolicy(total=5, backoff_factor=0.0, jitter=0.0, max_elapsed=1.0)
        with Peer(trickle(202)) as peer, pytest.raises(ShipError) as caught:
            transport(peer.url, attempt_timeout=None, retry=policy).send(file_archive(archive))
        assert "out of time" in str(caught.value) and "deadline of 1 s" in str(caught.value)
        assert caught.value.attempts == 1
        assert len(peer.requests) == 1

    def test_token_request_shares_the_attempt_deadline(self, archive: Path) -> None:
        """A token endpoint that trickles its answer is cut at the attempt's deadline."""
        with Peer(trickle(200)) as tokens, Peer(status_then(202, b"{}")) as ingress:
            auth = OAuth2ClientCredentials(
                token_url=tokens.url, client_id="c", client_secret="s", allow_insecure=True
            )
            with pytest.raises(ShipError) as caught:
                transport(ingress.url, auth=auth, attempt_timeout=1.0, allow_insecure=True).send(
                    file_archive(archive)
                )
        assert "deadline of 1 s" in str(caught.value)
        assert ingress.requests == []  # no upload without a token

    @pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
    def test_attempt_timeout_must_be_positive(self, bad: float) -> None:
        """A zero, negative or NaN attempt_timeout is refused by name."""
        with pytest.raises(Exception, match="attempt_timeout"):
            transport("https://ingress.test/up", attempt_timeout=bad)

    def test_the_sender_alone_honours_the_deadline(self) -> None:
        """RequestsSender ends a request whose deadline passes as NoAnswer, body sent."""
        with Peer(trickle(202)) as peer, pytest.raises(NoAnswer) as caught:
            RequestsSender().send(
                Request(method="POST", url=peer.url, body=Bytes(b"x"), deadline=0.5)
            )
        assert caught.value.body_sent
        assert "deadline" in str(caught.value)


class TestAnswerSize:
    """What is read of an answer is capped, whatever its status or encoding."""

    @pytest.mark.parametrize("status", [202, 200, 400, 503])
    def test_huge_answer_is_not_read_whole(self, status: int) -> None:
        """Of a 256 MiB answer the sender keeps 1 MiB and lets in no more than socket buffers."""
        with Peer(huge(status, 256 * MIB)) as peer:
            answer = RequestsSender().send(Request(method="POST", url=peer.url))
        assert answer.status == status
        assert len(answer.body) == MIB
        assert peer.sent < SOCKET_BUFFERS

    def test_huge_answer_through_the_transport(self, archive: Path) -> None:
        """An upload answered by a 256 MiB 2xx body is confirmed without reading the body."""
        with Peer(huge(202, 256 * MIB, prefix=b'{"request_id": "r1"')) as peer:
            receipt = transport(peer.url).send(file_archive(archive))
        assert receipt.status == 202
        assert peer.sent < SOCKET_BUFFERS

    def test_at_and_past_the_cap(self) -> None:
        """An answer of exactly max_answer bytes is read whole; one byte more is cut off."""
        sender = RequestsSender(max_answer=1024)
        for size, kept in ((1024, 1024), (1025, 1024), (1023, 1023)):
            with Peer(status_then(200, b"x" * size)) as peer:
                answer = sender.send(Request(method="GET", url=peer.url))
            assert len(answer.body) == kept, size

    def test_gzip_bomb_is_inflated_no_further_than_the_cap(self) -> None:
        """A gzip answer that would inflate to 256 MiB yields at most max_answer bytes."""
        bomb = gzip_of_zeros(256 * MIB)
        with Peer(status_then(200, bomb, headers={"Content-Encoding": "gzip"})) as peer:
            answer = RequestsSender().send(Request(method="GET", url=peer.url))
        assert answer.body == bytes(MIB)

    def test_small_gzip_answer_is_decoded(self) -> None:
        """An ingress that gzips its small JSON answer still gives its request_id."""
        import gzip

        body = gzip.compress(json.dumps({"request_id": "r9"}).encode())
        with Peer(status_then(202, body, headers={"Content-Encoding": "gzip"})) as peer:
            answer = RequestsSender().send(Request(method="POST", url=peer.url))
        assert answer.json() == {"request_id": "r9"}

    def test_token_endpoint_answer_is_capped(self, archive: Path) -> None:
        """A token endpoint answering 256 MiB fails the attempt having let in little of it."""
        with Peer(huge(200, 256 * MIB, prefix=b'{"access_token": "')) as tokens:
            auth = OAuth2ClientCredentials(
                token_url=tokens.url, client_id="c", client_secret="s", allow_insecure=True
            )
            with capture_logs(), pytest.raises(ShipError, match="without an access_token"):
                transport("http://127.0.0.1:9/up", auth=auth, allow_insecure=True).send(
                    file_archive(archive)
                )
        assert tokens.sent < SOCKET_BUFFERS
