"""metrics-utility's collectors and splitter subclass run with only their import lines changed.

``tests/oldstyle/mu_collectors.py`` and ``mu_splitter.py`` have the shapes of
metrics-utility 0.4.0's ``collectors.py`` and ``csv_file_splitter.py`` (a
subclass overriding ``file_list`` and closing ``currentfile`` itself).  On
two PostgreSQL databases with the same rows they run once through the real
insights-analytics-collector 0.3.2, with ``Collector`` and ``Package``
subclasses shaped like metrics-utility's, and once through
``tests/oldstyle/mu_after.py``, the guide's code.  Both must ship the same
rows in the same per-day folders, with the same config and entries.  The
entries live in AWX's ``conf_setting`` as AWX's own migrations build it
(``support.awx_schema``), which metrics-utility shares.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
import tarfile
import types
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support import awx_schema, django_env

OLDSTYLE = Path(__file__).resolve().parent / "oldstyle"
INSTALL_UUID = "36e809d0-b1ae-4b99-9011-2fa3a3eb196e"
PARAMS: dict[str, Any] = {"ship_path": "", "billing_provider": "aws", "account": "123"}
MIDNIGHT = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
UNTIL = MIDNIGHT - timedelta(hours=7)  # part of a day, like a run at 17:00
ENTRY = MIDNIGHT - timedelta(days=4, hours=-9)  # the last run shipped up to 09:00, four days ago
# AWX's conf_setting as its migrations build it (support.awx_schema): metrics-utility has no
# table of its own, it shares AWX's settings. And a cut-down data table.
SCHEMA = (
    awx_schema.CONF_SETTING
    + """
CREATE TABLE main_jobhostsummary (id int PRIMARY KEY, modified timestamptz, host_name text,
                                  job_id int, organization_name text);
"""
)


def exec_module(name: str, path: Path, *, old: bool) -> types.ModuleType:
    source = path.read_text()
    if old:
        source = source.replace(
            "from pipeline_collector.compat import", "from insights_analytics_collector import"
        )
    module = types.ModuleType(name)
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


def load(*, old: bool, connection: Any) -> types.ModuleType:
    """The splitter module (as ``mu_csv_file_splitter``) and the collectors, for either library."""
    if old:
        django_env.configure()
    sys.modules["mu_csv_file_splitter"] = exec_module(
        "mu_csv_file_splitter", OLDSTYLE / "mu_splitter.py", old=old
    )
    try:
        collectors = exec_module("mu_collectors", OLDSTYLE / "mu_collectors.py", old=old)
    finally:
        del sys.modules["mu_csv_file_splitter"]
    collectors.__dict__["connection"] = connection
    return collectors


def old_gather(module: types.ModuleType, conn: Any, tmp: Path, ship_path: Path) -> None:
    """metrics-utility's gather on insights-analytics-collector 0.3.2 (``ship_target=directory``)."""
    import insights_analytics_collector as base

    params = {**PARAMS, "ship_path": str(ship_path)}

    class PackageDirectory(base.Package):  # type: ignore[misc]
        def _tarname_base(self) -> str:
            first = self.collections[0]
            return f"{INSTALL_UUID}-{first.since:%Y-%m-%d-%H%M%S%z}-{first.until:%Y-%m-%d-%H%M%S%z}"

        def get_ingress_url(self) -> None:
            return None

        def _get_rh_user(self) -> str:
            return ""

        def _get_rh_password(self) -> str:
            return ""

        def _get_http_request_headers(self) -> dict[str, str]:
            return {}

        def shipping_auth_mode(self) -> str:
            return "user-pass"

        def ship(self) -> bool:
            since = self.collections[0].since
            target = ship_path / f"data/{since:%Y/%m/%d}" / os.path.basename(self.tar_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.tar_path, target)
            self.shipping_successful = True
            return True

    class Collector(base.Collector):  # type: ignore[misc]
        def gather_billing(self, dest: str) -> Any:
            self._gather_initialize(dest, None, None, UNTIL)
            assert self._gather_config()
            self._gather_json_collections()
            config = self.collections["config"]
            data = json.loads(config.data)
            data["billing_provider_params"] = params
            config._save_gathering(data)
            self._gather_csv_collections()
            self._process_packages()
            self._gather_finalize()
            self._gather_cleanup()

        @staticmethod
        def db_connection() -> None:
            return None

        def _package_class(self) -> type:
            return PackageDirectory

        def _is_valid_license(self) -> bool:
            return True

        def _is_shipping_configured(self) -> bool:
            return True

        def _last_gathering(self) -> None:
            return None

        def _load_last_gathered_entries(self) -> dict[str, Any]:
            row = conn.execute(
                "SELECT value FROM conf_setting WHERE key = 'AUTOMATION_ANALYTICS_LAST_ENTRIES'"
                " AND user_id IS NULL ORDER BY id LIMIT 1"
            ).fetchone()
            stored = json.loads((row[0] if row else "") or "{}")
            return {k: datetime.fromisoformat(v.replace("Z", "+00:00")) for k, v in stored.items()}

        def _save_last_gathered_entries(self, entries: dict[str, Any]) -> None:
            from django.core.serializers.json import DjangoJSONEncoder

            # ``settings.AUTOMATION_ANALYTICS_LAST_ENTRIES = ...`` through AWX's settings wrapper.
            awx_schema.write_setting(
                conn,
                "AUTOMATION_ANALYTICS_LAST_ENTRIES",
                json.dumps(entries, cls=DjangoJSONEncoder),
            )

        def _save_last_gather(self) -> None:
            pass

    work = tmp / "old-work"
    work.mkdir()
    Collector(collection_type="manual", collector_module=module).gather_billing(str(work))


class Databases:
    """Two databases with the same rows, and what the settings table says before the run."""

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self.names = {side: f"mu_{side}_{uuid.uuid4().hex[:8]}" for side in ("old", "new")}
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            for name in self.names.values():
                admin.execute(f"CREATE DATABASE {name}")
        self.conns = {s: psycopg.connect(self.dsn(s), autocommit=True) for s in self.names}
        for conn in self.conns.values():
            conn.execute(SCHEMA)
            entries = {"job_host_summary": ENTRY.isoformat(), "events_table": "2020-01-01T00:00Z"}
            awx_schema.write_setting(conn, "AUTOMATION_ANALYTICS_LAST_ENTRIES", json.dumps(entries))
            for n in range(96):  # one row an hour, some with quotes and newlines
                at = UNTIL - timedelta(hours=n, minutes=30)
                org = f'org "{n % 3}", billing\nteam' if n % 7 == 0 else f"org-{n % 3}"
                conn.execute(
                    "INSERT INTO main_jobhostsummary VALUES (%s, %s, %s, %s, %s)",
                    (n, at, f"host-{n % 11}", 1000 + n, org),
                )

    def dsn(self, side: str) -> str:
        return self.admin_dsn.replace("dbname=postgres", f"dbname={self.names[side]}")

    def entries(self, side: str) -> dict[str, datetime]:
        (row,) = awx_schema.system_rows(self.conns[side], "AUTOMATION_ANALYTICS_LAST_ENTRIES")
        assert row[1] <= row[2]  # created, modified: filled as AWX's model fills them
        stored = json.loads(row[3])
        return {k: datetime.fromisoformat(v.replace("Z", "+00:00")) for k, v in stored.items()}

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()
        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            for name in self.names.values():
                admin.execute(f"DROP DATABASE {name}")


@pytest.fixture
def dbs(postgres_dsn: str) -> Iterator[Databases]:
    databases = Databases(postgres_dsn)
    try:
        yield databases
    finally:
        databases.close()


def shipped(root: Path) -> dict[str, dict[str, bytes]]:
    """Each archive under ``root``, by relative path with the trailing index dropped."""
    out = {}
    for path in sorted(root.rglob("*.tar.gz")):
        rel = str(path.relative_to(root)).rsplit("-", 1)[0]
        with tarfile.open(path, "r:gz") as tar:
            files = {}
            for info in tar.getmembers():
                f = tar.extractfile(info)
                assert f is not None
                files[info.name] = f.read()
        assert rel not in out
        out[rel] = files
    return out


def table(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


class TestSameAsMetricsUtility:
    def test_same_folders_rows_config_and_entries(self, dbs: Databases, tmp_path: Path) -> None:
        """Daily slices from the stored entry: the same archives in the same per-day folders,
        the same rows, the same config.json with billing_provider_params, the same entries."""
        old_root, new_root = tmp_path / "old-ship", tmp_path / "new-ship"
        old_gather(
            load(old=True, connection=dbs.conns["old"]), dbs.conns["old"], tmp_path, old_root
        )

        after = types.ModuleType("mu_after")
        exec(compile((OLDSTYLE / "mu_after.py").read_text(), "mu_after.py", "exec"), after.__dict__)
        params = {**PARAMS, "ship_path": str(new_root)}
        run = after.run_billing(
            load(old=False, connection=dbs.conns["new"]),
            lambda: psycopg.connect(dbs.dsn("new"), autocommit=True),
            install_uuid=INSTALL_UUID,
            billing_provider_params=params,
            until=UNTIL,
        )
        assert run.status == "ok", run.reason

        old, new = shipped(old_root), shipped(new_root)
        assert sorted(new) == sorted(old)
        assert len(new) == 4  # the rest of the entry's day, two whole days, the last until 17:00
        first = sorted(new)[0]
        assert first == (
            f"data/{ENTRY:%Y/%m/%d}/{INSTALL_UUID}-{ENTRY:%Y-%m-%d-%H%M%S%z}"
            f"-{ENTRY.replace(hour=0) + timedelta(days=1):%Y-%m-%d-%H%M%S%z}"
        )
        for rel, files in new.items():
            assert table(files["./job_host_summary.csv"]) == table(
                old[rel]["./job_host_summary.csv"]
            ), rel
            config, old_config = (json.loads(f["./config.json"]) for f in (files, old[rel]))
            # Each side ships into its own folder, which the parameters name.
            assert config["billing_provider_params"].pop("ship_path") == str(new_root)
            assert old_config["billing_provider_params"].pop("ship_path") == str(old_root)
            assert config == old_config
            assert config["billing_provider_params"] == {
                "billing_provider": "aws",
                "account": "123",
            }
        old_entries = dbs.entries("old")
        # The old library also stored a stray 'manifest' entry (docs/contract.md, section 3).
        assert old_entries.pop("manifest") == UNTIL
        assert dbs.entries("new") == old_entries
        assert dbs.entries("new")["job_host_summary"] == UNTIL
        assert dbs.entries("new")["events_table"] == datetime(2020, 1, 1, tzinfo=timezone.utc)

    def test_splitter_subclass_keeps_a_header_only_file(self, tmp_path: Path) -> None:
        """The subclass's file_list closes currentfile and renames the lone file, keeping a
        header-only dump as under the old library (the base class would drop it)."""
        module = exec_module("mu_splitter", OLDSTYLE / "mu_splitter.py", old=False)
        splitter = module.CsvFileSplitter(filespec=str(tmp_path / "t.csv"), max_file_size=100)
        splitter.write("id,name\n")
        assert splitter.file_list() == [str(tmp_path / "t.csv")]
        assert (tmp_path / "t.csv").read_bytes() == b"id,name\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
