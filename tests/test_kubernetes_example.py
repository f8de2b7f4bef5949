"""examples/kubernetes/cronjob.yaml, parsed with a real YAML parser and checked against the
command's own option table, parser and builders."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from pipeline_collector.cli import exits
from pipeline_collector.cli.config import settings
from pipeline_collector.cli.declarations import ENV_PREFIX, SECRET_ENV, env_names
from pipeline_collector.cli.effects import build_lock, build_store, build_transport
from pipeline_collector.cli.parser import parse_args
from pipeline_collector.cli.secrets import Redactor
from pipeline_collector.locks import PostgresAdvisoryLock
from pipeline_collector.stores import PostgresStore
from pipeline_collector.transports import HttpTransport, OAuth2ClientCredentials

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "kubernetes" / "cronjob.yaml"


@pytest.fixture(scope="module")
def cronjob() -> dict[str, Any]:
    documents = [d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d]
    (job,) = [d for d in documents if d.get("kind") == "CronJob"]
    assert job["apiVersion"] == "batch/v1"
    return dict(job)


def pod(cronjob: dict[str, Any]) -> dict[str, Any]:
    return dict(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"])


def container(cronjob: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod(cronjob)["containers"]
    return dict(only)


def plain_env(cronjob: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(cronjob)["env"] if "value" in e}


class TestCronJob:
    def test_one_run_at_a_time(self, cronjob: dict[str, Any]) -> None:
        """concurrencyPolicy Forbid, a pod that is not restarted in place, and a database lock."""
        assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
        assert pod(cronjob)["restartPolicy"] == "Never"
        assert plain_env(cronjob)["PIPELINE_COLLECTOR_LOCK"].startswith("postgresql://")

    def test_command_is_gather_with_no_option(self, cronjob: dict[str, Any]) -> None:
        """The container runs `pipeline-collector gather`, which the real parser accepts."""
        command = [*container(cronjob)["command"], *container(cronjob).get("args", [])]
        assert command[:2] == ["pipeline-collector", "gather"]
        assert parse_args(command[1:]).command == "gather"

    def test_every_variable_is_a_known_option(self, cronjob: dict[str, Any]) -> None:
        """Each PIPELINE_COLLECTOR_* name the pod sets is one the command reads."""
        known = env_names()
        names = [e["name"] for e in container(cronjob)["env"]]
        assert len(names) == len(set(names))
        ours = [n for n in names if n.startswith(ENV_PREFIX)]
        assert ours and [n for n in ours if n not in known] == []

    def test_secrets_come_from_a_secret(self, cronjob: dict[str, Any]) -> None:
        """Every secret variable is a secretKeyRef, and no plain value carries a password."""
        for entry in container(cronjob)["env"]:
            if entry["name"] in SECRET_ENV:
                assert "value" not in entry, entry["name"]
                ref = entry["valueFrom"]["secretKeyRef"]
                assert ref["name"] and ref["key"]
            else:
                assert "valueFrom" not in entry, entry["name"]
                value = entry["value"]
                assert isinstance(value, str), entry["name"]  # YAML numbers must be quoted
                if "://" in value:
                    assert urlsplit(value).password is None, entry["name"]
        assert {"PIPELINE_COLLECTOR_CLIENT_SECRET", "PGPASSWORD"} <= {
            e["name"] for e in container(cronjob)["env"] if "valueFrom" in e
        }

    def test_logs_are_json(self, cronjob: dict[str, Any]) -> None:
        """The pod's logs are JSON lines, with progress events."""
        env = plain_env(cronjob)
        assert env["PIPELINE_COLLECTOR_LOG_FORMAT"] == "json"
        assert env["PIPELINE_COLLECTOR_PROGRESS"] == "events"

    def test_exit_codes_that_fail_the_job_at_once(self, cronjob: dict[str, Any]) -> None:
        """Every exit code of the command but success, a partial run and Ctrl-C fails the Job:
        only a partial run is worth a retry (a code added later is held to it too)."""
        (rule,) = cronjob["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
        assert rule["action"] == "FailJob"
        codes = rule["onExitCodes"]
        assert codes["containerName"] == container(cronjob)["name"]
        assert codes["operator"] == "In"
        every = {
            value
            for name, value in vars(exits).items()
            if name.startswith("EXIT_") and isinstance(value, int)
        }
        final = every - {exits.EXIT_OK, exits.EXIT_PARTIAL, exits.EXIT_INTERRUPTED}
        assert {
            exits.EXIT_USAGE,
            exits.EXIT_LOCK_HELD,
            exits.EXIT_GATED,
            exits.EXIT_STATE,
            exits.EXIT_UNRECORDED,
        } <= final
        assert sorted(codes["values"]) == sorted(final)

    def test_the_command_accepts_the_settings(self, cronjob: dict[str, Any]) -> None:
        """The variables parse, and the command's builders make the store, lock and transport."""
        env = plain_env(cronjob)
        secrets = {
            e["name"]: f"from-the-secret-{e['valueFrom']['secretKeyRef']['key']}"
            for e in container(cronjob)["env"]
            if "valueFrom" in e
        }
        o = settings(parse_args(container(cronjob)["command"][1:]), "gather", {**env, **secrets})
        assert o["module"] == "my_service.analytics" and o["mode"] == "scheduled"
        assert o["max_data_size"] == 200 * 2**20 and o["progress_interval"] == 60
        assert isinstance(build_store(o["state"]), PostgresStore)
        assert isinstance(build_lock(o["lock"], None, None), PostgresAdvisoryLock)
        transport, shown = build_transport(o, {**env, **secrets}, Redactor())
        assert isinstance(transport, HttpTransport)
        assert isinstance(transport.auth, OAuth2ClientCredentials)
        assert shown == "https://console.redhat.com/api/ingress/v1/upload"
