"""Locks against real files, real processes and a real PostgreSQL server."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from structlog.testing import capture_logs

from pipeline_collector.errors import ConfigurationError, LockError
from pipeline_collector.locks import (
    LOCK_KEYS,
    FileLock,
    PostgresAdvisoryLock,
    crc32_key,
    hashtext_key,
    sha512_key,
)
from pipeline_collector.protocols import Lock

NAMES = [
    "gather_analytics_lock",
    "",
    "a",
    "ab",
    "abc",
    "abcd",
    "abcde",
    "eleven char",
    "twelve chars",
    "thirteen char",
    "automation_analytics_gather",
    "pinakes-analytics",
    "galaxy_ng.analytics.lock",
    "ünïcödé lock ✓",
    "x" * 100,
]


# --------------------------------------------------------------------------- file lock

HOLDER = textwrap.dedent(
    """
    import sys
    import structlog
    from pipeline_collector.locks import FileLock

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))

    with FileLock(sys.argv[1]).acquire() as got:
        print("acquired" if got else "refused", flush=True)
        sys.stdin.readline()
    """
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """Another process that holds a FileLock until its stdin gets a line."""
    path = tmp_path / "run.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "acquired"
    try:
        yield proc, path
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


class TestFileLock:
    def test_fits_the_protocol(self, tmp_path: Path) -> None:
        """FileLock is a Lock."""
        assert isinstance(FileLock(tmp_path / "l"), Lock)

    def test_free_lock_is_taken(self, tmp_path: Path) -> None:
        """A lock nobody holds yields True."""
        with FileLock(tmp_path / "run.lock").acquire() as got:
            assert got is True

    def test_other_process_holding_refuses(
        self, holder: tuple[subprocess.Popen[str], Path]
    ) -> None:
        """While another process holds the lock, acquire yields False at once and logs why."""
        proc, path = holder
        with capture_logs() as logs, FileLock(path).acquire() as got:
            assert got is False
        held = [e for e in logs if e["event"] == "lock.held"]
        assert held and held[0]["holder"] == proc.pid

    def test_free_again_after_holder_releases(
        self, holder: tuple[subprocess.Popen[str], Path]
    ) -> None:
        """Once the holding process releases and exits, the lock can be taken."""
        proc, path = holder
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait() == 0
        with FileLock(path).acquire() as got:
            assert got is True

    def test_freed_when_holder_dies(self, holder: tuple[subprocess.Popen[str], Path]) -> None:
        """A holder killed without cleanup does not leave the lock stuck."""
        proc, path = holder
        proc.kill()
        proc.wait()
        with FileLock(path).acquire() as got:
            assert got is True

    def test_refused_acquire_releases_nothing(self, tmp_path: Path) -> None:
        """Leaving a refused acquire does not free the lock its holder still has."""
        path = tmp_path / "run.lock"
        with FileLock(path).acquire() as first:
            assert first
            with FileLock(path).acquire() as second:
                assert second is False
            with FileLock(path).acquire() as third:
                assert third is False
        with FileLock(path).acquire() as after:
            assert after is True

    def test_timeout_waits_for_release(self, tmp_path: Path) -> None:
        """With a timeout, acquire waits until the holder lets go."""
        path = tmp_path / "run.lock"
        held = threading.Event()
        release = threading.Event()

        def hold() -> None:
            with FileLock(path).acquire() as got:
                assert got
                held.set()
                release.wait(30)

        thread = threading.Thread(target=hold)
        thread.start()
        held.wait(30)
        threading.Timer(0.3, release.set).start()
        with FileLock(path, timeout=60).acquire() as got:
            assert got is True
        thread.join()

    def test_timeout_gives_up(self, tmp_path: Path) -> None:
        """With a short timeout and a holder that keeps the lock, acquire yields False."""
        path = tmp_path / "run.lock"
        with FileLock(path).acquire(), FileLock(path, timeout=0.2).acquire() as got:
            assert got is False

    def test_lock_file_mode_is_0600(self, tmp_path: Path) -> None:
        """The lock file is created readable by its owner only."""
        path = tmp_path / "run.lock"
        with FileLock(path).acquire():
            pass
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_unopenable_path_raises(self, tmp_path: Path) -> None:
        """A lock file that cannot be created raises LockError rather than yielding False."""
        with (
            pytest.raises(LockError, match="cannot open"),
            FileLock(tmp_path / "x" / "l").acquire(),
        ):
            pass

    def test_negative_timeout_is_refused(self, tmp_path: Path) -> None:
        """A negative timeout is a configuration error."""
        with pytest.raises(ConfigurationError):
            FileLock(tmp_path / "l", timeout=-1)


# --------------------------------------------------------------------------- key derivation


def django_pglocks_key(lock_id: str) -> int:
    """The key django-pglocks 1.0.x derives from a string lock id, step by step."""
    pos = zlib.crc32(lock_id.encode("utf-8"))
    key = (2**31 - 1) & pos
    if pos & 2**31:
        key -= 2**31
    return key


# Keys pinned as hashlib, zlib and PostgreSQL's hashtext() computed them: a change
# in the key functions (or in how a name is encoded) shows up against fixed numbers.
KNOWN_KEYS = [
    # name, sha512, crc32, hashtext
    ("", 2681949081846667838, 0, -1477818771),
    ("a", 5158164352754162293, -390611389, 1075015857),
    ("twelve chars", 5729831458902697177, 252981479, 1788333767),
    ("thirteen char", 1627793187708367483, 806166935, 322978584),
    ("ünïcödé lock ✓", 5733625491156257077, 886491367, -1931914797),
    ("automation_analytics_gather", 632038518888829137, -344980077, 984431435),
    ("pinakes-analytics", 1678968201787515576, 2141044495, 1299307443),
]


class TestKeys:
    @pytest.mark.parametrize(("name", "sha512", "crc32", "hashtext"), KNOWN_KEYS)
    def test_known_keys(self, name: str, sha512: int, crc32: int, hashtext: int) -> None:
        """Each scheme gives the pinned key for names of every length class, Unicode included."""
        assert sha512_key(name) == sha512
        assert crc32_key(name) == crc32
        assert hashtext_key(name) == hashtext
        assert {s: LOCK_KEYS[s](name) for s in LOCK_KEYS} == {
            "sha512": sha512,
            "crc32": crc32,
            "hashtext": hashtext,
        }

    @pytest.mark.parametrize("name", NAMES)
    def test_sha512_matches_the_old_library(self, name: str) -> None:
        """sha512 keys equal insights-analytics-collector's int(sha512 hex) % 2**63."""
        assert sha512_key(name) == int(hashlib.sha512(name.encode()).hexdigest(), 16) % 2**63
        assert 0 <= sha512_key(name) < 2**63

    @pytest.mark.parametrize("name", NAMES)
    def test_crc32_matches_django_pglocks(self, name: str) -> None:
        """crc32 keys equal django-pglocks' signed 32-bit CRC-32."""
        assert crc32_key(name) == django_pglocks_key(name)
        assert -(2**31) <= crc32_key(name) < 2**31

    def test_crc32_covers_both_signs(self) -> None:
        """The sample names include keys with and without the sign bit, so both paths are checked."""
        signs = {crc32_key(n) < 0 for n in NAMES}
        assert signs == {True, False}

    def test_hashtext_matches_the_server(self, postgres_dsn: str) -> None:
        """hashtext keys equal what PostgreSQL's hashtext() returns, for every length class."""
        names = [*NAMES, *("k" * n for n in range(40))]
        with psycopg.connect(postgres_dsn) as conn:
            for name in names:
                row = conn.execute("SELECT hashtext(%s)", (name,)).fetchone()
                assert row is not None
                assert hashtext_key(name) == row[0], name

    def test_lock_exposes_its_key(self) -> None:
        """A lock's key is the scheme's function of its name."""
        for scheme, fn in LOCK_KEYS.items():
            lock = PostgresAdvisoryLock(lambda: None, "gather_analytics_lock", scheme=scheme)  # type: ignore[arg-type,return-value]
            assert lock.key == fn("gather_analytics_lock")


# --------------------------------------------------------------------------- advisory lock


def lock_name() -> str:
    """A fresh lock name, so that tests sharing one server never hold each other's locks."""
    return f"lock-{uuid.uuid4().hex}"


@pytest.fixture
def connect(postgres_dsn: str) -> Iterator[Any]:
    """Open autocommit connections to the test server; all are closed afterwards."""
    opened: list[psycopg.Connection[Any]] = []

    def open_one(**kwargs: Any) -> psycopg.Connection[Any]:
        conn = psycopg.connect(postgres_dsn, autocommit=kwargs.pop("autocommit", True), **kwargs)
        opened.append(conn)
        return conn

    yield open_one
    for conn in opened:
        conn.close()


def held_by_someone(conn: psycopg.Connection[Any], key: int) -> bool:
    """Ask from a third session whether the single-bigint advisory lock ``key`` is taken."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s::bigint)", (key,)).fetchone()
    assert row is not None
    if row[0]:
        conn.execute("SELECT pg_advisory_unlock(%s::bigint)", (key,))
    return not row[0]


# How each other project asks for the lock, statement for statement.
OTHER_PROJECTS = {
    # insights-analytics-collector: a Python int bound as a parameter.
    "sha512": lambda cur, name: cur.execute(
        "SELECT pg_try_advisory_lock(%s);",
        (int(hashlib.sha512(name.encode()).hexdigest(), 16) % 2**63,),
    ),
    # django-pglocks (AWX): the key formatted into the SQL text.
    "crc32": lambda cur, name: cur.execute(
        "SELECT %s(%d)" % ("pg_try_advisory_lock", django_pglocks_key(name))  # noqa: UP031
    ),
    # metrics-utility: the server hashes the name.
    "hashtext": lambda cur, name: cur.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (name,)),
}


class TestAdvisoryLock:
    def test_fits_the_protocol(self, connect: Any) -> None:
        """PostgresAdvisoryLock is a Lock."""
        assert isinstance(PostgresAdvisoryLock(connect(), "x"), Lock)

    @pytest.mark.parametrize("scheme", ["sha512", "crc32", "hashtext"])
    def test_same_scheme_excludes_a_second_session(self, connect: Any, scheme: Any) -> None:
        """While one session holds the lock, another session with the same name and scheme gets False."""
        name = lock_name()
        first = PostgresAdvisoryLock(connect(), name, scheme=scheme)
        second = PostgresAdvisoryLock(connect(), name, scheme=scheme)
        with first.acquire() as got_first:
            assert got_first is True
            with second.acquire() as got_second:
                assert got_second is False
        with second.acquire() as got_after:
            assert got_after is True

    @pytest.mark.parametrize(
        ("one", "other"), [("sha512", "crc32"), ("crc32", "hashtext"), ("hashtext", "sha512")]
    )
    def test_other_scheme_does_not_exclude(self, connect: Any, one: Any, other: Any) -> None:
        """The same name under a different scheme is a different lock."""
        name = lock_name()
        with PostgresAdvisoryLock(connect(), name, scheme=one).acquire() as got_one:
            assert got_one
            with PostgresAdvisoryLock(connect(), name, scheme=other).acquire() as got_other:
                assert got_other is True

    @pytest.mark.parametrize("scheme", ["sha512", "crc32", "hashtext"])
    def test_excludes_the_project_it_replaces(self, connect: Any, scheme: Any) -> None:
        """While held, the other project's own SQL for the same name cannot take the lock, and vice versa."""
        name = "gather_analytics_lock"
        other = connect()
        with PostgresAdvisoryLock(connect(), name, scheme=scheme).acquire() as got:
            assert got
            with other.cursor() as cur:
                OTHER_PROJECTS[scheme](cur, name)
                assert cur.fetchone()[0] is False
        with other.cursor() as cur:
            OTHER_PROJECTS[scheme](cur, name)
            assert cur.fetchone()[0] is True
        with PostgresAdvisoryLock(connect(), name, scheme=scheme).acquire() as got:
            assert got is False
        other.execute("SELECT pg_advisory_unlock_all()")

    @pytest.mark.parametrize("scheme", ["sha512", "crc32", "hashtext"])
    def test_takes_the_single_bigint_key(self, connect: Any, scheme: Any) -> None:
        """The lock shows in pg_locks as the one-argument (bigint) form of the expected key."""
        name = lock_name()
        lock = PostgresAdvisoryLock(connect(), name, scheme=scheme)
        watcher = connect()
        with lock.acquire():
            rows = watcher.execute(
                "SELECT (classid::bigint << 32) | objid::bigint, objsubid FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted"
            ).fetchall()
        assert (LOCK_KEYS[scheme](name), 1) in rows

    def test_refused_session_releases_nothing(self, connect: Any) -> None:
        """A session that got False never unlocks: the holder keeps the lock, no unlock warning."""
        name = lock_name()
        loser_conn = connect()
        notices: list[str] = []
        loser_conn.add_notice_handler(lambda diag: notices.append(str(diag.message_primary)))
        holder = PostgresAdvisoryLock(connect(), name)
        loser = PostgresAdvisoryLock(loser_conn, name)
        with holder.acquire() as got:
            assert got
            with capture_logs() as logs, loser.acquire() as lost:
                assert lost is False
            assert held_by_someone(connect(), holder.key)
        assert notices == []
        assert [e["event"] for e in logs] == ["lock.held"]

    def test_release_frees_for_others(self, connect: Any) -> None:
        """After the context exits the lock is free for any session."""
        name = lock_name()
        lock = PostgresAdvisoryLock(connect(), name)
        with lock.acquire():
            pass
        assert not held_by_someone(connect(), lock.key)

    def test_timeout_waits_for_release(self, connect: Any) -> None:
        """With a timeout, acquire keeps trying until the holder lets go."""
        name = lock_name()
        holder_conn = connect()
        holder = PostgresAdvisoryLock(holder_conn, name)
        tries = threading.Event()
        waiter_conn = connect()

        class CountingConnection:
            """Passes everything to a real connection; says when a lock attempt was made."""

            def cursor(self) -> Any:
                tries.set()
                return waiter_conn.cursor()

        result: list[bool] = []

        def wait_for_lock() -> None:
            with PostgresAdvisoryLock(CountingConnection(), name, timeout=60).acquire() as got:
                result.append(got)

        with holder.acquire() as got:
            assert got
            thread = threading.Thread(target=wait_for_lock)
            thread.start()
            assert tries.wait(30)  # the first attempt happens while the lock is held
            time.sleep(0.2)
        thread.join(60)
        assert result == [True]

    def test_timeout_gives_up(self, connect: Any) -> None:
        """With a short timeout and a holder that keeps the lock, acquire yields False."""
        name = lock_name()
        with PostgresAdvisoryLock(connect(), name).acquire() as got:
            assert got
            with PostgresAdvisoryLock(connect(), name, timeout=0.2).acquire() as waited:
                assert waited is False

    def test_caller_transaction_is_not_left_open(self, connect: Any) -> None:
        """On a non-autocommit connection, the lock does not leave the session idle in transaction."""
        conn = connect(autocommit=False)
        with PostgresAdvisoryLock(conn, lock_name()).acquire() as got:
            assert got
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


class TestLostConnection:
    def test_terminated_session_raises_on_release(self, connect: Any) -> None:
        """A session killed while holding the lock makes release raise LockError; the lock is free."""
        name = lock_name()
        conn = connect()
        lock = PostgresAdvisoryLock(conn, name)
        admin = connect()
        with capture_logs() as logs, pytest.raises(LockError, match="lost"), lock.acquire() as got:
            assert got
            admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        assert [e for e in logs if e["event"] == "lock.lost"]
        assert not held_by_someone(connect(), lock.key)
        with PostgresAdvisoryLock(connect(), name).acquire() as again:
            assert again is True

    def test_run_error_is_kept_when_lock_is_lost(self, connect: Any) -> None:
        """If the run itself fails while the session is lost, its error propagates and the loss is logged."""
        conn = connect()
        admin = connect()
        lock = PostgresAdvisoryLock(conn, lock_name())
        with capture_logs() as logs, pytest.raises(ZeroDivisionError), lock.acquire():
            admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
            1 / 0
        assert [e for e in logs if e["event"] == "lock.lost"]

    def test_dead_connection_never_acquires(self, connect: Any) -> None:
        """Acquiring over a closed connection raises LockError instead of yielding anything."""
        conn = connect()
        conn.close()
        entered = False
        lock = PostgresAdvisoryLock(conn, lock_name())
        with pytest.raises(LockError, match="lock"), lock.acquire():
            entered = True
        assert not entered

    def test_unreachable_server_raises_without_secrets(self) -> None:
        """A factory that cannot connect raises LockError; the password is in neither error nor repr."""
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        dsn = f"postgresql://svc:s3cr3t-pw@127.0.0.1:{port}/db?connect_timeout=5"
        lock = PostgresAdvisoryLock.from_dsn(dsn, "x")
        assert "s3cr3t" not in repr(lock)
        with pytest.raises(LockError, match="cannot connect") as info, lock.acquire():
            pass
        assert "s3cr3t" not in str(info.value)


class TestFactory:
    def test_factory_connection_is_closed_after_release(
        self, postgres_dsn: str, connect: Any
    ) -> None:
        """With a factory, each acquire opens its own session and closes it after releasing."""
        made: list[psycopg.Connection[Any]] = []

        def factory() -> psycopg.Connection[Any]:
            conn = psycopg.connect(postgres_dsn)  # not autocommit: the lock switches it
            made.append(conn)
            return conn

        lock = PostgresAdvisoryLock(factory, lock_name(), scheme="hashtext")
        with lock.acquire() as got:
            assert got
            assert made[0].autocommit is True
            assert held_by_someone(connect(), hashtext_key(lock.name))
        assert made[0].closed
        assert not held_by_someone(connect(), hashtext_key(lock.name))

    def test_from_dsn_excludes_itself(self, postgres_dsn: str) -> None:
        """Two from_dsn locks with the same name exclude each other."""
        name = lock_name()
        one = PostgresAdvisoryLock.from_dsn(postgres_dsn, name, scheme="crc32")
        two = PostgresAdvisoryLock.from_dsn(postgres_dsn, name, scheme="crc32")
        with one.acquire() as a, two.acquire() as b:
            assert (a, b) == (True, False)

    def test_bad_arguments_are_refused(self, postgres_dsn: str) -> None:
        """An unknown scheme, an empty name or a negative timeout are configuration errors."""
        with pytest.raises(ConfigurationError):
            PostgresAdvisoryLock.from_dsn(postgres_dsn, "x", scheme="md5")  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError):
            PostgresAdvisoryLock.from_dsn(postgres_dsn, "")
        with pytest.raises(ConfigurationError):
            PostgresAdvisoryLock.from_dsn(postgres_dsn, "x", timeout=-0.5)


def test_pid_hint_is_written(tmp_path: Path) -> None:
    """The holder writes its pid into the lock file, for people investigating a held lock."""
    path = tmp_path / "run.lock"
    with FileLock(path).acquire():
        assert path.read_text().strip() == str(os.getpid())
