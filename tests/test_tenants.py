"""Tenants sharing one state store, each run in a process of its own, ship every row once.

Four tenants collect the same keys over rows of their own and share one
store (a JSON file, a SQLite file, a PostgreSQL table, a service's settings
table), one destination folder and nothing else: each has its own
namespace in the store, its own work folder and its own lock.  Two rounds
of runs, the clock a day and a half on between them, run the four at once
or one after another; every row of every tenant must then be in the
destination exactly once, read back member by member, and each tenant's
run record must be its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from support.tenants import EVERY, KINDS, START, row_ids, shipped, store_for

from pipeline_collector.book.health import read_runs

T1 = datetime(2026, 11, 25, 6, tzinfo=timezone.utc)
T2 = datetime(2026, 11, 26, 18, tzinfo=timezone.utc)
TENANTS = ("acme", "globex", "initech", "umbrella")


@pytest.fixture(params=KINDS)
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, dict[str, str]]:
    """A store of each kind, empty: its kind, where it is, and the environment its runs need."""
    kind = str(request.param)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if kind == "json":
        return kind, str(tmp_path / "state" / "state.json"), env
    if kind == "sqlite":
        return kind, str(tmp_path / "state.db"), env
    dsn = str(request.getfixturevalue("postgres_dsn"))
    table = f"tenants_{uuid.uuid4().hex[:10]}"
    if kind == "settings":
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {table} (key text PRIMARY KEY, value text)")
    return kind, dsn, {**env, "TENANTS_TABLE": table}


def run_all(
    shared: tuple[str, str, dict[str, str]],
    runs: list[tuple[str, str]],
    now: datetime,
    dest: Path,
    tmp_path: Path,
    *,
    at_once: bool,
) -> list[dict[str, str]]:
    """Run each ``(tenant, work folder)`` in a process of its own: all at once, or in turn."""
    kind, target, env = shared
    go = tmp_path / f"go-{uuid.uuid4().hex[:6]}"

    def start(tenant: str, work: str, extra: dict[str, str]) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "support.tenants", kind, target, tenant, now.isoformat()]
        argv += [str(dest), str(tmp_path / work)] + ([str(go)] if at_once else [])
        return subprocess.Popen(
            argv, env={**env, **extra}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    results: list[dict[str, str]] = []
    if at_once:
        procs = [start(t, w, {}) for t, w in runs]
        time.sleep(0.5)  # let every process get to the start line
        go.touch()
    else:
        procs = []
    for n, (tenant, work) in enumerate(runs):
        p = procs[n] if at_once else start(tenant, work, {})
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-3000:]
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


def expected(tenants: tuple[str, ...], until: datetime) -> Counter[str]:
    """Every row of ``tenants`` created before ``until``, once."""
    return Counter(i for t in tenants for key in EVERY for i in row_ids(t, key, START, until))


@pytest.mark.parametrize("at_once", [True, False], ids=["at-once", "in-turn"])
def test_four_tenants_ship_every_row_exactly_once(
    shared: tuple[str, str, dict[str, str]], tmp_path: Path, at_once: bool
) -> None:
    """Four tenants on one store, at once or in turn, two rounds: each row arrives once."""
    dest = tmp_path / "dest"
    for now in (T1, T2):
        results = run_all(
            shared, [(t, f"work-{t}") for t in TENANTS], now, dest, tmp_path, at_once=at_once
        )
        assert [(r["tenant"], r["status"]) for r in results] == [(t, "ok") for t in TENANTS], [
            r["reason"] for r in results
        ]
    counts = shipped(dest)
    assert counts == expected(TENANTS, T2)
    kind, target, env = shared
    for tenant in TENANTS:
        state = store_for(kind, target, tenant, env.get("TENANTS_TABLE")).load()
        assert state.namespace == tenant
        assert dict(state.entries) == {"events": T2, "hosts": T2}
        assert state.last_gather == T2
        runs, problem = read_runs(state)
        assert problem is None
        assert [(r.at, r.status) for r in runs] == [(T1, "ok"), (T2, "ok")]
        assert "failures" not in state.extra


@pytest.mark.parametrize("at_once", [True, False], ids=["at-once", "in-turn"])
def test_runs_over_other_keys_in_one_namespace_lose_and_repeat_nothing(
    shared: tuple[str, str, dict[str, str]], tmp_path: Path, at_once: bool
) -> None:
    """Two modules over different keys share a namespace, each with its own lock: no row lost or repeated."""
    kind, target, env = shared
    dest = tmp_path / "dest"
    for now in (T1, T2):
        go = tmp_path / f"go-{now:%d}"
        procs: list[subprocess.Popen[bytes]] = []
        for key in EVERY:
            argv = [sys.executable, "-m", "support.tenants", kind, target, "acme", now.isoformat()]
            argv += [str(dest), str(tmp_path / f"work-{key}")] + ([str(go)] if at_once else [])
            p = subprocess.Popen(
                argv,
                env={**env, "TENANTS_KEYS": key},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            if not at_once:
                p.wait(timeout=300)
            procs.append(p)
        time.sleep(0.5 if at_once else 0)
        go.touch()
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err.decode()[-3000:]
            assert json.loads(out.decode().splitlines()[-1])["status"] == "ok"
    assert shipped(dest) == expected(("acme",), T2)
    state = store_for(kind, target, "acme", env.get("TENANTS_TABLE")).load()
    assert dict(state.entries) == {"events": T2, "hosts": T2}


RECIPE = Path(__file__).resolve().parents[1] / "docs" / "state-and-locks.md"
DOC_URL = "postgresql://analytics@db:5432/analytics"


def recipe() -> dict[str, str]:
    """The variables of docs/state-and-locks.md's tenant recipe, as written there."""
    text = RECIPE.read_text(encoding="utf-8")
    block = text[text.index("A recipe, one CronJob per tenant") :]
    block = block[block.index("```sh\n") + 6 :]
    block = block[: block.index("```")]
    lines = [line for line in block.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_the_documented_recipe_ships_every_row_once(postgres_dsn: str, tmp_path: Path) -> None:
    """Four CronJobs' worth of `pipeline-collector gather`, set up as the docs say, at once, twice."""
    parts = dict(item.split("=", 1) for item in postgres_dsn.split())
    url = f"postgresql://{parts['user']}@{parts['host']}:{parts['port']}/{parts['dbname']}"
    package = tmp_path / "code" / "my_service"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "analytics.py").write_text(
        "import os\n"
        "from support.tenants import collectors\n"
        "config, events, hosts = collectors(os.environ['ANALYTICS_TENANT'])\n"
    )
    suffix = uuid.uuid4().hex[:6]
    tenants = [f"{t}-{suffix}" for t in TENANTS]
    written = recipe()
    assert written["ANALYTICS_TENANT"] == "acme" and written["PIPELINE_COLLECTOR_DIR"]
    base = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_COLLECTOR_")},
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "code"), *sys.path]),
    }
    for _ in range(2):
        procs = []
        for tenant in tenants:
            env = {k: v.replace(DOC_URL, url).replace("acme", tenant) for k, v in written.items()}
            env["PIPELINE_COLLECTOR_DIR"] = str(tmp_path / "outbox")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "pipeline_collector", "gather"],
                    env={**base, **env},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            )
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, err.decode()[-3000:]
    wanted: Counter[str] = Counter()
    for tenant in tenants:
        state = store_for("postgres", url, tenant, "pipeline_collector_state").load()
        runs, _ = read_runs(state)
        assert [r.status for r in runs] == ["ok", "ok"]
        assert state.last_gather is not None and state.last_gather == runs[-1].at
        first = max(START, runs[0].at - timedelta(weeks=4))
        wanted += Counter(
            i for key in EVERY for i in row_ids(tenant, key, first, state.last_gather)
        )
    assert shipped(tmp_path / "outbox") == wanted
