"""The pipeline-collector command, run as a subprocess against the example collectors."""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import itertools
import json
import shutil
import sqlite3
import ssl
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from support.cli import run_cli

from pipeline_collector.checks import check_archive
from pipeline_collector.cli.declarations import OPTIONS, SECRET_ENV, options_of
from pipeline_collector.cli.options import parse_size, parse_when
from pipeline_collector.cli.parser import build_parser
from pipeline_collector.cli.secrets import (
    ENV_CLIENT_SECRET,
    ENV_IDENTITY,
    ENV_PASSWORD,
    ENV_PROXY,
    redactor_from_env,
)
from pipeline_collector.ingress import Fail, IngressServer
from pipeline_collector.locks import FileLock, PostgresAdvisoryLock
from pipeline_collector.stores import PostgresStore, SqliteStore
from pipeline_collector.transports import IdentityAuth

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "examples/jobs_collectors.py"
CONTENT_TYPE = "application/vnd.redhat.tower.analytics+tgz"
PASSWORD = "pw-Zq8!never-shown"
CLIENT_SECRET = "cs-Vx3-never-shown"


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every stderr line parsed as JSON (fails on a line that is not)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def env(jobs_db: Path) -> dict[str, str]:
    return {"JOBS_DATABASE": str(jobs_db)}


def _events_in_db(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM job_events").fetchone()[0])


def shipped_archives(folder: Path) -> list[Path]:
    return sorted(folder.glob("data/*/*/*/*.tar.gz"))


def csv_rows(archives: list[Path], member: str = "./job_events.csv") -> int:
    """Data rows of a CSV member over all archives (the example has no quoted newlines in ids)."""
    import csv

    total = 0
    for path in archives:
        with tarfile.open(path, "r:gz") as tar:
            try:
                f = tar.extractfile(member)
            except KeyError:
                continue
            assert f is not None
            total += len(list(csv.reader(io.TextIOWrapper(f, encoding="utf-8")))) - 1
    return total


def write_module(folder: Path, name: str, source: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


# -- help ----------------------------------------------------------------------------


class TestHelp:
    @pytest.mark.parametrize("command", [[], ["gather"], ["plan"], ["inspect"]])
    def test_help_has_examples_and_exit_codes(self, command: list[str]) -> None:
        """Every command's --help exits 0 and shows an example and the exit codes."""
        result = run_cli(*command, "--help")
        assert result.returncode == 0, result.stderr
        assert "examples:" in result.stdout
        assert "exit codes:" in result.stdout
        assert "pipeline-collector" in result.stdout

    def test_main_help_lists_every_command(self) -> None:
        """The top-level help names gather, plan, inspect and ingress."""
        out = run_cli("--help").stdout
        for command in ("gather", "plan", "inspect", "ingress"):
            assert command in out

    def test_gather_help_names_secret_variables(self) -> None:
        """gather --help says which environment variables carry the secrets."""
        out = run_cli("gather", "--help").stdout
        for name in (
            "PIPELINE_COLLECTOR_PASSWORD",
            "PIPELINE_COLLECTOR_IDENTITY",
            "PIPELINE_COLLECTOR_CLIENT_SECRET",
            "AWS_SECRET_ACCESS_KEY",
        ):
            assert name in out

    def test_ingress_help_is_delegated(self) -> None:
        """ingress --help is the local ingress's own help."""
        result = run_cli("ingress", "--help")
        assert result.returncode == 0
        assert "--basic" in result.stdout and "--port" in result.stdout

    def test_no_command_is_a_usage_error(self) -> None:
        """Without a command the exit code is 2."""
        assert run_cli().returncode == 2


class TestIngressCommand:
    def test_serves_uploads_until_terminated(self, tmp_path: Path, env: dict[str, str]) -> None:
        """pipeline-collector ingress accepts a gather's uploads and stops cleanly on SIGTERM."""
        received = tmp_path / "received"
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline_collector",
                "ingress",
                "--port",
                "0",
                "--dir",
                str(received),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert server.stdout is not None
            first = server.stdout.readline()
            assert first.startswith("upload url: http://127.0.0.1:"), first
            url = first.split(": ", 1)[1].strip()
            result = run_cli(
                "gather",
                EXAMPLE,
                "--subset",
                "job_summary",
                "--mode",
                "manual",
                "--state",
                str(tmp_path / "state.json"),
                "--lock",
                str(tmp_path / "run.lock"),
                "--url",
                url,
                "--content-type",
                CONTENT_TYPE,
                env=env,
            )
            assert result.returncode == 0, result.stderr
        finally:
            server.terminate()
            code = server.wait(timeout=60)
        assert code == 0
        assert len([p for p in received.rglob("*") if p.is_file()]) == 1


# -- gather: dry runs -------------------------------------------------------------------


class TestDryRun:
    def test_keeps_archives_and_prints_their_paths(
        self, tmp_path: Path, env: dict[str, str], jobs_db: Path
    ) -> None:
        """A dry run writes archives that meet the contract and lists them on stdout."""
        work = tmp_path / "work"
        result = run_cli("gather", EXAMPLE, "--workdir", str(work), env=env)
        assert result.returncode == 0, result.stderr
        paths = [Path(line) for line in result.stdout.splitlines()]
        assert paths and all(p.parent == work and p.exists() for p in paths)
        assert sorted(paths) == sorted(work.glob("*.tar.gz"))
        for p in paths:
            assert check_archive(p) == []
        assert csv_rows(paths) == _events_in_db(jobs_db)

    def test_logs_are_json_lines_off_a_terminal(self, tmp_path: Path, env: dict[str, str]) -> None:
        """Off a terminal every stderr line is a JSON event, the run's end among them."""
        result = run_cli("gather", EXAMPLE, "--workdir", str(tmp_path), env=env)
        events = json_lines(result.stderr)
        names = [e["event"] for e in events]
        assert "plan.made" in names and "run.done" in names
        assert all("timestamp" in e and "level" in e for e in events)

    def test_import_path_and_subset(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A module named by import path runs, and --subset keeps only the keys asked for."""
        result = run_cli(
            "gather",
            "examples.jobs_collectors",
            "--subset",
            "job_summary",
            "--workdir",
            str(tmp_path),
            env=env,
        )
        assert result.returncode == 0, result.stderr
        (path,) = [Path(p) for p in result.stdout.splitlines()]
        with tarfile.open(path, "r:gz") as tar:
            names = sorted(tar.getnames())
        assert names == [
            "./config.json",
            "./data_collection_status.csv",
            "./job_summary.json",
            "./manifest.json",
        ]

    def test_report_json(self, tmp_path: Path, env: dict[str, str], jobs_db: Path) -> None:
        """--report-json writes the run's collections, archives and status."""
        report = tmp_path / "report.json"
        result = run_cli(
            "gather",
            EXAMPLE,
            "--workdir",
            str(tmp_path / "w"),
            "--report-json",
            str(report),
            env=env,
        )
        assert result.returncode == 0, result.stderr
        data = json.loads(report.read_text())
        assert data["status"] == "ok" and data["mode"] == "dry-run" and data["exit_code"] == 0
        assert data["shipments"] == []
        assert sum(c["rows"] for c in data["collections"]) == _events_in_db(jobs_db)
        assert {a["path"] for a in data["archives"]} == set(result.stdout.split())
        for a in data["archives"]:
            assert hashlib.sha256(Path(a["path"]).read_bytes()).hexdigest() == a["sha256"]

    def test_size_limits_are_honoured(self, tmp_path: Path, env: dict[str, str]) -> None:
        """--max-data-size with a unit cuts the CSV into parts no larger than the limit."""
        result = run_cli(
            "gather",
            EXAMPLE,
            "--subset",
            "job_events",
            "--max-data-size",
            "64KiB",
            "--max-upload-size",
            "1MiB",
            "--workdir",
            str(tmp_path),
            env=env,
        )
        assert result.returncode == 0, result.stderr
        paths = result.stdout.split()
        assert len(paths) > 10
        for p in paths:
            assert check_archive(p, max_upload_size=2**20, max_data_size=64 * 2**10) == []


# -- gather: shipping -------------------------------------------------------------------


class TestShipToDirectory:
    def test_manual_run_ships_and_saves_state(
        self, tmp_path: Path, env: dict[str, str], jobs_db: Path
    ) -> None:
        """A manual run copies every archive to the folder and saves each key's entry."""
        out, state = tmp_path / "out", tmp_path / "state.json"
        args = ["gather", EXAMPLE, "--mode", "manual", "--state", str(state), "--dir", str(out)]
        args += ["--lock", str(tmp_path / "run.lock")]
        result = run_cli(*args, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
        shipped = shipped_archives(out)
        assert shipped and all(check_archive(p) == [] for p in shipped)
        assert csv_rows(shipped) == _events_in_db(jobs_db)
        saved = json.loads(state.read_text())
        assert set(saved["entries"]) == {"host_counts", "job_summary", "job_events"}
        assert saved["last_gather"]
        # Another prefix: a second run in the same second would name its archive alike.
        again = run_cli(*args, "--prefix", "again", env=env)
        assert again.returncode == 0, again.stderr
        assert csv_rows(shipped_archives(out)) == _events_in_db(jobs_db)

    def test_sqlite_state(self, tmp_path: Path, env: dict[str, str]) -> None:
        """--state sqlite:///PATH keeps the bookkeeping in a SQLite table."""
        db = tmp_path / "state.db"
        result = run_cli(
            "gather",
            EXAMPLE,
            "--mode",
            "scheduled",
            "--state",
            f"sqlite:///{db}",
            "--lock",
            str(tmp_path / "run.lock"),
            "--dir",
            str(tmp_path / "out"),
            env=env,
        )
        assert result.returncode == 0, result.stderr
        state = SqliteStore(db).load()
        assert set(state.entries) == {"host_counts", "job_events", "job_summary"}
        assert state.last_gather is not None


@pytest.fixture
def postgres_url(postgres_dsn: str) -> str:
    """A URL to a fresh database of its own on the test server."""
    import uuid

    import psycopg

    name = f"cli_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    params = dict(item.split("=", 1) for item in postgres_dsn.split())
    return f"postgresql://{params['user']}@{params['host']}:{params['port']}/{name}"


class TestPostgres:
    def gather(
        self, tmp_path: Path, env: dict[str, str], url: str
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(
            "gather",
            EXAMPLE,
            "--mode",
            "manual",
            "--state",
            url,
            "--lock",
            url,
            "--lock-scheme",
            "crc32",
            "--dir",
            str(tmp_path / "out"),
            env=env,
        )

    def test_state_and_lock(self, tmp_path: Path, env: dict[str, str], postgres_url: str) -> None:
        """--state and --lock take a postgresql:// URL: a state table and an advisory lock."""
        result = self.gather(tmp_path, env, postgres_url)
        assert result.returncode == 0, result.stderr
        state = PostgresStore.from_dsn(postgres_url).load()
        assert set(state.entries) == {"host_counts", "job_events", "job_summary"}

    def test_advisory_lock_held(
        self, tmp_path: Path, env: dict[str, str], postgres_url: str
    ) -> None:
        """While another session holds the advisory lock the run exits 3 and ships nothing."""
        lock = PostgresAdvisoryLock.from_dsn(postgres_url, scheme="crc32")
        with lock.acquire() as held:
            assert held
            result = self.gather(tmp_path, env, postgres_url)
        assert result.returncode == 3, result.stderr
        assert not (tmp_path / "out").exists()

    def test_password_in_url_refused(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A postgresql:// URL with a password is refused (PGPASSWORD carries it), not echoed."""
        result = run_cli(
            "gather", EXAMPLE, "--state", "postgresql://me:pg-sekrit@127.0.0.1/db", env=env
        )
        assert result.returncode == 2
        assert "PGPASSWORD" in result.stderr
        assert "pg-sekrit" not in result.stderr + result.stdout


@pytest.fixture
def ingress(tmp_path: Path) -> Iterator[IngressServer]:
    with IngressServer(
        tmp_path / "received",
        basic=("analyst", PASSWORD),
        clients={"svc-account": CLIENT_SECRET},
        require_identity=True,
    ) as server:
        yield server


def assert_no_secret(secret: str, *texts: str) -> None:
    for text in texts:
        assert secret not in text
        assert base64.b64encode(secret.encode()).decode() not in text


class TestShipToIngress:
    def http_args(self, ingress: IngressServer, tmp_path: Path) -> list[str]:
        return [
            "gather",
            EXAMPLE,
            "--mode",
            "manual",
            "--state",
            str(tmp_path / "state.json"),
            "--lock",
            str(tmp_path / "run.lock"),
            "--url",
            ingress.url,
            "--content-type",
            CONTENT_TYPE,
            "--allow-insecure",
            "--header",
            "User-Agent=pipeline-collector-test",
            "--report-json",
            str(tmp_path / "report.json"),
            "-vv",
        ]

    def test_basic_auth_never_shows_the_password(
        self, tmp_path: Path, env: dict[str, str], ingress: IngressServer
    ) -> None:
        """Basic auth reads the password from the environment and never prints it."""
        result = run_cli(
            *self.http_args(ingress, tmp_path),
            "--user",
            "analyst",
            env={**env, "PIPELINE_COLLECTOR_PASSWORD": PASSWORD},
        )
        assert result.returncode == 0, result.stderr
        received = ingress.received
        assert received and {u.auth for u in received} == {"basic"}
        assert {u.content_type for u in received} == {CONTENT_TYPE}
        assert all(u.headers.get("User-Agent") == "pipeline-collector-test" for u in received)
        report = (tmp_path / "report.json").read_text()
        assert len(json.loads(report)["shipments"]) == len(received)
        assert_no_secret(PASSWORD, result.stdout, result.stderr, report)
        assert_no_secret(f"analyst:{PASSWORD}", result.stdout, result.stderr, report)

    def test_identity_header(
        self, tmp_path: Path, env: dict[str, str], ingress: IngressServer
    ) -> None:
        """--identity sends the x-rh-identity header from the environment, never shown."""
        identity = IdentityAuth.from_ids(org_id="4242").identity
        result = run_cli(
            *self.http_args(ingress, tmp_path),
            "--identity",
            env={**env, "PIPELINE_COLLECTOR_IDENTITY": identity},
        )
        assert result.returncode == 0, result.stderr
        assert {u.auth for u in ingress.received} == {"identity"}
        assert {u.principal for u in ingress.received} == {"4242"}
        assert identity not in result.stderr + result.stdout
        assert identity not in (tmp_path / "report.json").read_text()

    def test_oauth2_client_credentials(
        self, tmp_path: Path, env: dict[str, str], ingress: IngressServer
    ) -> None:
        """--token-url and --client-id fetch a Bearer token with the secret from the environment."""
        result = run_cli(
            *self.http_args(ingress, tmp_path),
            "--token-url",
            ingress.token_url,
            "--client-id",
            "svc-account",
            env={**env, "PIPELINE_COLLECTOR_CLIENT_SECRET": CLIENT_SECRET},
        )
        assert result.returncode == 0, result.stderr
        assert {u.auth for u in ingress.received} == {"bearer"}
        assert ingress.tokens_issued >= 1
        assert_no_secret(CLIENT_SECRET, result.stdout, result.stderr)
        assert CLIENT_SECRET not in (tmp_path / "report.json").read_text()

    def test_mutual_tls(self, tmp_path: Path, env: dict[str, str]) -> None:
        """--cert/--key/--ca-bundle upload over TLS with a client certificate."""
        import trustme

        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
        client = ca.issue_cert("collector@example.com")
        cert, key, bundle = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
        client.cert_chain_pems[0].write_to_path(str(cert))
        client.private_key_pem.write_to_path(str(key))
        ca.cert_pem.write_to_path(str(bundle))
        with IngressServer(tmp_path / "received", ssl_context=context) as server:
            result = run_cli(
                "gather",
                EXAMPLE,
                "--subset",
                "job_summary",
                "--mode",
                "manual",
                "--state",
                str(tmp_path / "state.json"),
                "--lock",
                str(tmp_path / "run.lock"),
                "--url",
                server.url,
                "--content-type",
                CONTENT_TYPE,
                "--cert",
                str(cert),
                "--key",
                str(key),
                "--ca-bundle",
                str(bundle),
                env=env,
            )
            assert result.returncode == 0, result.stderr
            assert len(server.received) == 1
            assert server.received[0].client_cert is not None


class TestShipToS3:
    def test_upload_to_a_bucket(self, tmp_path: Path, env: dict[str, str]) -> None:
        """--s3-bucket uploads every archive under the prefix, credentials from the environment."""
        import boto3
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            creds = {
                "AWS_ACCESS_KEY_ID": "testing-key-id",
                "AWS_SECRET_ACCESS_KEY": "s3-secret-never-shown",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
            s3 = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
            )
            s3.create_bucket(Bucket="analytics")
            result = run_cli(
                "gather",
                EXAMPLE,
                "--mode",
                "manual",
                "--state",
                str(tmp_path / "state.json"),
                "--lock",
                str(tmp_path / "run.lock"),
                "--s3-bucket",
                "analytics",
                "--s3-endpoint",
                endpoint,
                "--s3-region",
                "us-east-1",
                "--s3-prefix",
                "tower/",
                "--report-json",
                "-",
                env={**env, **creds},
            )
            assert result.returncode == 0, result.stderr
            listed = s3.list_objects_v2(Bucket="analytics", Prefix="tower/")
            keys = {o["Key"] for o in listed.get("Contents", [])}
            report = json.loads(result.stdout)
            assert keys == {f"tower/{s['archive']}" for s in report["shipments"]}
            assert keys
            assert "s3-secret-never-shown" not in result.stdout + result.stderr
        finally:
            server.stop()


# -- the config file ------------------------------------------------------------------------


class TestConfigFile:
    def test_settings_from_toml(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A TOML file holds the module, mode, destination, sizes and headers."""
        config = tmp_path / "collector.toml"
        config.write_text(
            textwrap.dedent(f"""\
                module = "examples.jobs_collectors"
                mode = "manual"
                state = "{tmp_path / "state.json"}"
                lock = "{tmp_path / "run.lock"}"
                dir = "{tmp_path / "out"}"
                max-data-size = "64KiB"
                max_upload_size = 1048576
                subset = ["job_events"]
                since = {(datetime.now(timezone.utc) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")}
                """)
        )
        result = run_cli("gather", "--config", str(config), env=env)
        assert result.returncode == 0, result.stderr
        shipped = shipped_archives(tmp_path / "out")
        assert len(shipped) >= 3
        for p in shipped:
            assert check_archive(p, max_upload_size=2**20, max_data_size=64 * 2**10) == []
            with tarfile.open(p, "r:gz") as tar:
                assert "./job_summary.json" not in tar.getnames()

    def test_command_line_wins(self, tmp_path: Path, env: dict[str, str]) -> None:
        """An option on the command line overrides the config file."""
        config = tmp_path / "c.toml"
        config.write_text(f'module = "{EXAMPLE}"\nmode = "manual"\ndir = "{tmp_path / "out"}"\n')
        result = run_cli(
            "gather",
            "--config",
            str(config),
            "--mode",
            "dry-run",
            "--workdir",
            str(tmp_path / "w"),
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert not (tmp_path / "out").exists()
        assert result.stdout.strip()

    @pytest.mark.parametrize(
        ("line", "words"),
        [
            ('password = "hunter2-secret"', "password"),
            ('client_secret = "hunter2-secret"', "client_secret"),
            ('identity = "eyJpZGVudGl0eSI6e319hunter2-secret"', "PIPELINE_COLLECTOR_IDENTITY"),
            ('header = {Authorization = "Bearer hunter2-secret"}', "Authorization"),
            ('url = "https://me:hunter2-secret@ingress.example.com/upload"', "carries a password"),
        ],
    )
    def test_secrets_are_refused(
        self, tmp_path: Path, env: dict[str, str], line: str, words: str
    ) -> None:
        """A secret in the config file stops the command with exit 2 and is not echoed."""
        config = tmp_path / "c.toml"
        config.write_text(f'module = "{EXAMPLE}"\n{line}\n')
        result = run_cli("gather", "--config", str(config), env=env)
        assert result.returncode == 2
        assert words in result.stderr
        assert "hunter2" not in result.stderr + result.stdout

    def test_unknown_setting(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A misspelt setting is named, with exit 2."""
        config = tmp_path / "c.toml"
        config.write_text('max-data-sise = "1MiB"\n')
        result = run_cli("gather", EXAMPLE, "--config", str(config), env=env)
        assert result.returncode == 2
        assert "max-data-sise" in result.stderr

    def test_plan_reads_the_same_file(self, tmp_path: Path, env: dict[str, str]) -> None:
        """plan takes the gather config file and ignores the settings it has no use for."""
        config = tmp_path / "c.toml"
        config.write_text(
            f'module = "{EXAMPLE}"\nmode = "manual"\ndir = "out"\nsubset = "job_summary"\n'
        )
        result = run_cli("plan", "--config", str(config), env=env)
        assert result.returncode == 0, result.stderr
        assert "job_summary" in result.stdout and "job_events" not in result.stdout


# -- usage errors -----------------------------------------------------------------------------


class TestUsageErrors:
    @pytest.mark.parametrize(
        ("args", "words"),
        [
            (["--since", "2026-11-01T00:00:00"], "no timezone"),
            (["--until", "2026-11-01"], "no timezone"),
            (["--max-data-size", "lots"], "not a size"),
            (["--dir", "a", "--url", "https://x.example.com/u"], "one destination"),
            (["--mode", "manual", "--state", "s.json"], "give a destination"),
            (["--mode", "manual", "--dir", "out"], "--state"),
            (["--user", "me"], "needs --url"),
            (
                [
                    "--url",
                    "https://x.example.com/u",
                    "--content-type",
                    CONTENT_TYPE,
                    "--user",
                    "me",
                ],
                "PIPELINE_COLLECTOR_PASSWORD",
            ),
            (["--url", "https://x.example.com/u"], "--content-type"),
            (["--header", "Authorization=Bearer abc"], "credentials"),
            (["--since", "2026-11-02T00:00:00Z", "--until", "2026-11-01T00:00:00Z"], "not before"),
        ],
    )
    def test_exit_2_with_a_clear_message(
        self, tmp_path: Path, env: dict[str, str], args: list[str], words: str
    ) -> None:
        """Bad options exit 2 and say what is wrong."""
        result = run_cli("gather", EXAMPLE, "--workdir", str(tmp_path), *args, env=env)
        assert result.returncode == 2, result.stderr
        assert words in result.stderr

    def test_missing_module(self, tmp_path: Path) -> None:
        """A module file that does not exist is a usage error."""
        result = run_cli("gather", str(tmp_path / "nope.py"))
        assert result.returncode == 2
        assert "not found" in result.stderr

    def test_module_without_config_collector(self, tmp_path: Path) -> None:
        """A module without a config collector is refused with the library's message."""
        path = write_module(
            tmp_path,
            "noconfig",
            """\
            import pipeline_collector as pc

            @pc.register("jobs", "1.0")
            def jobs(**kwargs):
                return {}
            """,
        )
        result = run_cli("gather", str(path), "--log-format", "console")
        assert result.returncode == 2
        assert "config collector" in result.stderr

    def test_password_in_url_is_not_echoed(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A URL with a password is refused without printing the password."""
        result = run_cli(
            "gather",
            EXAMPLE,
            "--url",
            "https://me:sekrit-pass@x.example.com/u",
            "--content-type",
            CONTENT_TYPE,
            env=env,
        )
        assert result.returncode == 2
        assert "sekrit-pass" not in result.stderr + result.stdout
        events = json_lines(result.stderr)
        assert events[-1]["event"] == "command.failed" and events[-1]["exit_code"] == 2


# -- exit codes ---------------------------------------------------------------------------------


class TestExitCodes:
    def test_upload_refused_is_partial(self, tmp_path: Path, env: dict[str, str]) -> None:
        """An upload the ingress refuses makes the run partial: exit 1, the report says why."""
        with IngressServer(tmp_path / "received") as server:
            server.script([Fail(413)])
            result = run_cli(
                "gather",
                EXAMPLE,
                "--mode",
                "manual",
                "--state",
                str(tmp_path / "state.json"),
                "--lock",
                str(tmp_path / "run.lock"),
                "--url",
                server.url,
                "--content-type",
                CONTENT_TYPE,
                "--report-json",
                str(tmp_path / "report.json"),
                env=env,
            )
        assert result.returncode == 1, result.stderr
        report = json.loads((tmp_path / "report.json").read_text())
        assert report["status"] == "partial" and report["exit_code"] == 1
        refused = [s for s in report["shipments"] if not s["ok"]]
        assert refused and "413" in refused[0]["error"]

    def test_failing_collector_is_partial(self, tmp_path: Path) -> None:
        """A collector that raises makes the run partial (exit 1); the others still ship."""
        path = write_module(
            tmp_path,
            "flaky",
            """\
            import pipeline_collector as pc

            @pc.register("config", "1.0", config=True)
            def config(**kwargs):
                return {"v": 1}

            @pc.register("good", "1.0")
            def good(**kwargs):
                return {"fine": True}

            @pc.register("bad", "1.0")
            def bad(**kwargs):
                raise RuntimeError("database went away")
            """,
        )
        result = run_cli(
            "gather",
            str(path),
            "--mode",
            "manual",
            "--state",
            str(tmp_path / "state.json"),
            "--lock",
            str(tmp_path / "run.lock"),
            "--dir",
            str(tmp_path / "out"),
        )
        assert result.returncode == 1, result.stderr
        failed = [e for e in json_lines(result.stderr) if e["event"] == "collection.failed"]
        assert failed and "database went away" in failed[0]["error"]
        (archive,) = shipped_archives(tmp_path / "out")
        with tarfile.open(archive, "r:gz") as tar:
            assert "./good.json" in tar.getnames()

    def test_lock_held(self, tmp_path: Path, env: dict[str, str]) -> None:
        """While another process holds the lock the run does nothing and exits 3."""
        lock = tmp_path / "run.lock"
        with FileLock(lock).acquire() as held:
            assert held
            result = run_cli(
                "gather",
                EXAMPLE,
                "--mode",
                "manual",
                "--state",
                str(tmp_path / "state.json"),
                "--lock",
                str(tmp_path / "run.lock"),
                "--dir",
                str(tmp_path / "out"),
                "--lock",
                str(lock),
                env=env,
            )
        assert result.returncode == 3, result.stderr
        assert not (tmp_path / "out").exists()
        assert not (tmp_path / "state.json").exists()

    @pytest.mark.parametrize("option", ["--is-licensed", "--is-shipping-configured"])
    def test_gated_off(self, tmp_path: Path, env: dict[str, str], option: str) -> None:
        """A gate that says no stops the run with exit 4 and ships nothing."""
        gate = write_module(tmp_path, "gates", "def no():\n    return False\n")
        result = run_cli(
            "gather",
            EXAMPLE,
            "--mode",
            "manual",
            "--state",
            str(tmp_path / "state.json"),
            "--lock",
            str(tmp_path / "run.lock"),
            "--dir",
            str(tmp_path / "out"),
            option,
            f"{gate}:no",
            "--report-json",
            str(tmp_path / "report.json"),
            env=env,
        )
        assert result.returncode == 4, result.stderr
        assert json.loads((tmp_path / "report.json").read_text())["status"] == "gated"
        assert not (tmp_path / "out").exists()


# -- plan -----------------------------------------------------------------------------------------

PLANNED = """\
import os
from datetime import timedelta
from pathlib import Path

import pipeline_collector as pc

MARKS = Path(os.environ["MARKS"])


def slicer(key, last_gather, since=None, until=None, **kwargs):
    (MARKS / f"slicer-{key}").touch()
    yield from pc.slicers.daily(key, last_gather, since=since, until=until, **kwargs)


def broken_slicer(key, last_gather, **kwargs):
    raise RuntimeError("slicer lost its way")


@pc.register("config", "1.0", config=True)
def config(**kwargs):
    (MARKS / "collector-config").touch()
    return {}


@pc.register("events", "1.0", format="csv", fnc_slicing=slicer, full_sync_interval_days=7)
def events(**kwargs):
    (MARKS / "collector-events").touch()
    return []


@pc.register("summary", "1.0")
def summary(**kwargs):
    (MARKS / "collector-summary").touch()
    return {}
"""


class TestPlan:
    def test_slicers_are_called_collectors_are_not(self, tmp_path: Path) -> None:
        """plan calls the slicers and shows every window with its full-sync flag, collecting nothing."""
        marks = tmp_path / "marks"
        marks.mkdir()
        module = write_module(tmp_path, "planned", PLANNED)
        result = run_cli("plan", str(module), "--horizon", "3d", env={"MARKS": str(marks)})
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in marks.iterdir()) == ["slicer-events"]
        out = result.stdout
        assert "horizon 3 days" in out
        assert out.count("FULL SYNC") in (3, 4)  # three days, aligned to midnight
        assert "summary" in out and "(no entries)" in out

    def test_state_is_shown(self, tmp_path: Path) -> None:
        """plan shows the stored last_gather and entries and starts each key where it left off."""
        marks = tmp_path / "marks"
        marks.mkdir()
        module = write_module(tmp_path, "planned", PLANNED)
        now = datetime.now(timezone.utc)
        entry = (now - timedelta(hours=30)).replace(microsecond=0)
        full = (now - timedelta(days=1)).replace(microsecond=0)
        state = tmp_path / "state.json"
        state.write_text(
            json.dumps(
                {
                    "last_gather": entry.isoformat(),
                    "entries": {"events": entry.isoformat(), "events_full": full.isoformat()},
                }
            )
        )
        result = run_cli(
            "plan", str(module), "--state", str(state), "--json", env={"MARKS": str(marks)}
        )
        assert result.returncode == 0, result.stderr
        plan = json.loads(result.stdout)
        assert plan["state"]["last_gather"] == entry.isoformat()
        assert plan["state"]["entries"]["events_full"] == full.isoformat()
        windows = [t for t in plan["tasks"] if t["key"] == "events"]
        assert windows[0]["since"] == entry.isoformat()
        assert not any(t["full_sync"] for t in windows)
        assert all(a["until"] == b["since"] for a, b in itertools.pairwise(windows))
        assert windows[-1]["until"] == plan["until"]

    def test_slicer_failure_is_a_problem(self, tmp_path: Path) -> None:
        """A slicer that raises is reported as a problem for its key, with exit 1."""
        marks = tmp_path / "marks"
        marks.mkdir()
        source = PLANNED.replace("fnc_slicing=slicer", "fnc_slicing=broken_slicer")
        module = write_module(tmp_path, "broken", source)
        result = run_cli("plan", str(module), env={"MARKS": str(marks)})
        assert result.returncode == 1
        assert "problem      events" in result.stdout
        assert "slicer lost its way" in result.stdout


# -- inspect --------------------------------------------------------------------------------------

STATUS_HEADER = "collection_start_timestamp,since,until,file_name,status,elapsed\n"
STATUS_ROW = (
    "2026-11-27 00:00:01+00:00,2026-11-26 00:00:00+00:00,2026-11-27 00:00:00+00:00,{},{},0\n"
)


def members(**overrides: bytes | None) -> list[tuple[str, bytes]]:
    """The members of a small valid archive, with some replaced or (None) removed."""
    base = {
        "./jobs.csv": b"id,name\n1,a\n2,b\n",
        "./config.json": b'{"version": "1.0"}',
        "./data_collection_status.csv": (
            STATUS_HEADER + STATUS_ROW.format("jobs.csv", "ok")
        ).encode(),
        "./manifest.json": json.dumps(
            {"jobs.csv": "1.0", "config.json": "1.0", "data_collection_status.csv": "1.0"}
        ).encode(),
    }
    for name, data in overrides.items():
        key = "./" + name.replace("__", ".")
        if data is None:
            base.pop(key, None)
        else:
            base[key] = data
    return list(base.items())


def make_tar(path: Path, entries: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


MANIFEST_NO_CONFIG = json.dumps({"jobs.csv": "1.0", "data_collection_status.csv": "1.0"}).encode()

BROKEN = {
    "missing config": (
        members(config__json=None, manifest__json=MANIFEST_NO_CONFIG),
        "required member ./config.json is missing",
    ),
    "manifest misses a member": (
        members(
            manifest__json=json.dumps(
                {"config.json": "1.0", "data_collection_status.csv": "1.0"}
            ).encode()
        ),
        "manifest.json does not list jobs.csv",
    ),
    "manifest lists an absent member": (
        members(
            manifest__json=json.dumps(
                {
                    "jobs.csv": "1.0",
                    "hosts.csv": "1.0",
                    "config.json": "1.0",
                    "data_collection_status.csv": "1.0",
                }
            ).encode()
        ),
        "manifest.json lists hosts.csv, not in the archive",
    ),
    "manifest version": (
        members(
            manifest__json=json.dumps(
                {"jobs.csv": "1", "config.json": "1.0", "data_collection_status.csv": "1.0"}
            ).encode()
        ),
        "not 'MAJOR.MINOR'",
    ),
    "bad status header": (
        members(
            data_collection_status__csv=(
                "timestamp,since,until,file,status,elapsed\n" + STATUS_ROW.format("jobs.csv", "ok")
            ).encode()
        ),
        "data_collection_status.csv header is",
    ),
    "status names an absent member": (
        members(
            data_collection_status__csv=(
                STATUS_HEADER
                + STATUS_ROW.format("jobs.csv", "ok")
                + STATUS_ROW.format("hosts.csv", "ok")
            ).encode()
        ),
        "hosts.csv is reported ok but is not in the archive",
    ),
    "member without a status row": (
        members(data_collection_status__csv=STATUS_HEADER.encode()),
        "jobs.csv has no row in data_collection_status.csv",
    ),
    "invalid json": (members(config__json=b"{not json"), "./config.json is not valid JSON"),
}


class TestInspect:
    def test_good_archive(self, tmp_path: Path) -> None:
        """A valid archive passes: members with sizes, the sha256, exit 0."""
        path = make_tar(tmp_path / "good.tar.gz", members())
        result = run_cli("inspect", str(path))
        assert result.returncode == 0, result.stdout
        assert hashlib.sha256(path.read_bytes()).hexdigest() in result.stdout
        assert "./jobs.csv" in result.stdout and "16" in result.stdout
        assert "OK" in result.stdout
        assert check_archive(path) == []

    def test_failed_collection_row_without_member(self, tmp_path: Path) -> None:
        """A status row of a failed collection may name a file that is not in the archive."""
        status = (
            STATUS_HEADER
            + STATUS_ROW.format("jobs.csv", "ok")
            + STATUS_ROW.format("hosts.csv", "failed")
        )
        path = make_tar(tmp_path / "a.tar.gz", members(data_collection_status__csv=status.encode()))
        assert check_archive(path) == []

    @pytest.mark.parametrize("kind", sorted(BROKEN))
    def test_broken_archive(self, tmp_path: Path, kind: str) -> None:
        """Each kind of broken archive is caught, named, and makes inspect exit 1."""
        entries, words = BROKEN[kind]
        path = make_tar(tmp_path / "broken.tar.gz", entries)
        problems = check_archive(path)
        assert any(words in p for p in problems), problems
        result = run_cli("inspect", str(path))
        assert result.returncode == 1
        assert words in result.stdout

    def test_bad_key_name(self, tmp_path: Path) -> None:
        """A member whose key is not lower-case letters, digits and '_' is refused."""
        entries = [
            *members(
                manifest__json=json.dumps(
                    {
                        "jobs.csv": "1.0",
                        "Job-Hosts.csv": "1.0",
                        "config.json": "1.0",
                        "data_collection_status.csv": "1.0",
                    }
                ).encode(),
                data_collection_status__csv=(
                    STATUS_HEADER
                    + STATUS_ROW.format("jobs.csv", "ok")
                    + STATUS_ROW.format("Job-Hosts.csv", "ok")
                ).encode(),
            ),
            ("./Job-Hosts.csv", b"a\n1\n"),
        ]
        problems = check_archive(make_tar(tmp_path / "a.tar.gz", entries))
        assert len(problems) == 1 and "'./Job-Hosts.csv'" in problems[0]

    def test_duplicate_member(self, tmp_path: Path) -> None:
        """The same member name twice is caught."""
        entries = [*members(), ("./jobs.csv", b"id,name\n3,c\n")]
        problems = check_archive(make_tar(tmp_path / "a.tar.gz", entries))
        assert problems == ["member ./jobs.csv appears 2 times"]

    def test_oversized(self, tmp_path: Path) -> None:
        """An archive over --max-upload-size or a CSV over --max-data-size is caught."""
        path = make_tar(tmp_path / "a.tar.gz", members(jobs__csv=b"id\n" + b"1\n" * 5000))
        assert check_archive(path) == []
        problems = check_archive(path, max_upload_size=100, max_data_size=1000)
        assert any("over the upload limit" in p for p in problems)
        assert any("./jobs.csv holds 10,003 bytes, over --max-data-size" in p for p in problems)
        result = run_cli("inspect", "--max-upload-size", "100", "--max-data-size", "1KB", str(path))
        assert result.returncode == 1
        assert "over the upload limit" in result.stdout

    def test_truncated_file(self, tmp_path: Path) -> None:
        """A cut-off gzip stream is caught."""
        path = make_tar(tmp_path / "a.tar.gz", members())
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        assert any("gzip" in p or "tar.gz" in p for p in check_archive(path))

    def test_pipeline_archives_pass_and_json_output(
        self, tmp_path: Path, env: dict[str, str]
    ) -> None:
        """Archives the pipeline wrote pass, and --json reports them all."""
        written = run_cli("gather", EXAMPLE, "--workdir", str(tmp_path), env=env).stdout.split()
        result = run_cli("inspect", "--json", *written)
        assert result.returncode == 0, result.stdout
        reports = json.loads(result.stdout)
        assert [r["path"] for r in reports] == written
        assert all(r["ok"] and r["problems"] == [] for r in reports)
        assert all(
            r["sha256"] == hashlib.sha256(Path(r["path"]).read_bytes()).hexdigest() for r in reports
        )

    def test_one_bad_among_good(self, tmp_path: Path) -> None:
        """inspect checks every archive and exits 1 when any one fails."""
        good = make_tar(tmp_path / "good.tar.gz", members())
        bad = make_tar(tmp_path / "bad.tar.gz", members(config__json=None))
        result = run_cli("inspect", str(good), str(bad))
        assert result.returncode == 1
        assert result.stdout.count("OK      meets") == 1


class TestValues:
    def test_sizes(self) -> None:
        """Sizes take binary and decimal units."""
        assert parse_size("50MiB") == 50 * 2**20
        assert parse_size("100M") == 100 * 2**20
        assert parse_size("100MB") == 100 * 10**6
        assert parse_size("2048") == 2048

    def test_naive_datetime_refused(self) -> None:
        """A datetime without a timezone is refused with an example of the right form."""
        with pytest.raises(
            argparse.ArgumentTypeError, match=r"no timezone.*2026-11-01T00:00:00\+00:00"
        ):
            parse_when("2026-11-01T00:00:00")
        assert parse_when("2026-11-01T00:00:00+02:00").utcoffset() == timedelta(hours=2)


class TestDeclarations:
    def test_each_declared_option_reaches_its_command(self) -> None:
        """Every option a command declares is parsed into its dest by that command's parser."""
        parser = build_parser()
        samples = {
            "ISO": "2026-11-01T00:00:00Z",
            "DURATION": "4w",
            "KEY,KEY": "a,b",
            "NAME=VALUE": "User-Agent=x",
            "SIZE": "1MiB",
            "SECONDS": "1",
            "N": "1",
        }
        for command in ("gather", "plan", "inspect"):
            required = ["a.tar.gz"] if command == "inspect" else []
            for option in options_of(command):
                if option.secret or option.kind == "positional":
                    continue
                value = (
                    option.choices[0] if option.choices else samples.get(option.metavar or "", "x")
                )
                if option.kind in ("flag", "count"):
                    value = ""
                argv = [command, option.flags[-1], *([value] if value else []), *required]
                parsed = vars(parser.parse_args(argv))
                assert parsed.get(option.dest) not in (None, False), argv

    def test_names_and_dests_are_unique_per_command(self) -> None:
        """Within one command no two options share a name or a dest."""
        for command in ("gather", "plan", "inspect"):
            options = options_of(command)
            assert len({o.name for o in options}) == len(options), command
            assert len({o.dest for o in options}) == len(options), command

    def test_environment_variables_are_not_shared(self) -> None:
        """Each environment variable belongs to one option name, and a secret's to it alone."""
        owner: dict[str, str] = {}
        for option in OPTIONS:
            if option.env is not None:
                assert owner.setdefault(option.env, option.name) == option.name, option.env
        assert all(o.env and not o.flags and not o.in_file for o in OPTIONS if o.secret)
        assert set(SECRET_ENV) == {
            ENV_PASSWORD,
            ENV_IDENTITY,
            ENV_CLIENT_SECRET,
            ENV_PROXY,
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "PGPASSWORD",
        }

    def test_secret_env_values_are_redacted(self) -> None:
        """A value of any secret variable is cut out of text, and a proxy URL's password too."""
        env = {ENV_PASSWORD: "pw-Secret1", ENV_PROXY: "http://me:px-Secret2@proxy:3128"}
        redact = redactor_from_env(env, SECRET_ENV)
        text = redact("sent pw-Secret1 via px-Secret2")
        assert "Secret" not in text and text.count("<redacted>") == 2
        assert "Secret" not in repr(redact)


def test_console_script_is_installed() -> None:
    """The pipeline-collector console script runs the same command line."""
    script = shutil.which("pipeline-collector", path=str(Path(sys.executable).parent))
    assert script is not None
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "pipeline-collector" in result.stdout
