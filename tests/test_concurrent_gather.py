"""Two gather runs at the same moment, sharing one advisory lock and one state table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline_collector.records import State
from pipeline_collector.stores import PostgresStore

COLLECTORS = textwrap.dedent(
    """
    import os
    import time
    from pathlib import Path

    from pipeline_collector import register

    SYNC = Path(os.environ["PCOLLECT_SYNC"])


    @register("config", "1.0", config=True)
    def config(**kwargs):
        return {"instance": "test"}


    @register("jobs", "1.0", description="blocks until the test lets it finish")
    def jobs(since, until, **kwargs):
        (SYNC / f"collecting-{os.getpid()}").touch()
        deadline = time.monotonic() + 120
        while not (SYNC / "release").exists():
            if time.monotonic() > deadline:
                raise RuntimeError("never released")
            time.sleep(0.01)
        return {"since": since.isoformat(), "until": until.isoformat(), "pid": os.getpid()}
    """
)

RUNNER = textwrap.dedent(
    """
    import json
    import os
    import sys
    import time
    from pathlib import Path

    import structlog

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))

    from pipeline_collector import gather
    from pipeline_collector.locks import PostgresAdvisoryLock
    from pipeline_collector.stores import PostgresStore
    from pipeline_collector.transports import DirectoryTransport

    import collectors_under_test

    dsn, table, lock_name, outbox, workdir = sys.argv[1:6]
    sync = Path(os.environ["PCOLLECT_SYNC"])
    (sync / f"ready-{os.getpid()}").touch()
    while not (sync / "go").exists():
        time.sleep(0.005)
    run = gather(
        collectors_under_test,
        state=PostgresStore.from_dsn(dsn, table=table),
        transport=DirectoryTransport(outbox),
        lock=PostgresAdvisoryLock.from_dsn(dsn, lock_name, scheme="hashtext"),
        mode="manual",
        workdir=workdir,
    )
    result = {
        "pid": os.getpid(),
        "status": run.status,
        "reason": run.reason,
        "collections": [c.key for c in run.collections],
        "archives": len(run.archives),
        "receipts": len(run.receipts),
    }
    (sync / f"result-{os.getpid()}.json").write_text(json.dumps(result))
    """
)


def wait_for(
    condition: Callable[[], object], what: str, procs: list[subprocess.Popen[bytes]]
) -> None:
    """Poll until ``condition()`` holds; fail (not hang) when a process died or it never does."""
    deadline = time.monotonic() + 120
    while not condition():
        for p in procs:
            if p.poll() not in (None, 0):
                pytest.fail(f"a gather process exited with {p.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.01)


class TestConcurrentGather:
    def test_only_one_of_two_simultaneous_runs_collects(
        self, postgres_dsn: str, tmp_path: Path
    ) -> None:
        """Of two runs started together on one lock and store, one ships, the other is lock-held and changes nothing."""
        code = tmp_path / "code"
        code.mkdir()
        (code / "collectors_under_test.py").write_text(COLLECTORS)
        (code / "runner.py").write_text(RUNNER)
        sync = tmp_path / "sync"
        sync.mkdir()
        outbox = tmp_path / "outbox"
        table = f"state_{uuid.uuid4().hex[:12]}"
        lock_name = f"gather_analytics_lock_{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "PCOLLECT_SYNC": str(sync), "PYTHONPATH": str(code)}

        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(code / "runner.py"),
                    postgres_dsn,
                    table,
                    lock_name,
                    str(outbox),
                    str(tmp_path / f"work-{n}"),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
            )
            for n in (1, 2)
        ]
        try:
            wait_for(lambda: len(list(sync.glob("ready-*"))) == 2, "both runs to start", procs)
            (sync / "go").touch()
            # One run is inside its collector (holding the lock) while the other has already
            # finished: both tried the lock while the first held it.
            wait_for(lambda: list(sync.glob("collecting-*")), "a run to collect", procs)
            wait_for(
                lambda: list(sync.glob("result-*")) or len(list(sync.glob("collecting-*"))) > 1,
                "the other run to give up",
                procs,
            )
            assert len(list(sync.glob("collecting-*"))) == 1
            loser = json.loads(next(sync.glob("result-*")).read_text())
            # Now let the winner finish.
            (sync / "release").touch()
            for p in procs:
                assert p.wait(timeout=120) == 0
        finally:
            (sync / "release").touch()
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()

        results = {r["pid"]: r for r in (json.loads(f.read_text()) for f in sync.glob("result-*"))}
        assert len(results) == 2
        winner = next(r for r in results.values() if r["pid"] != loser["pid"])
        collector_pid = int(next(sync.glob("collecting-*")).name.split("-")[1])

        assert loser["status"] == "lock-held"
        assert loser["collections"] == []
        assert (loser["archives"], loser["receipts"]) == (0, 0)

        assert winner["pid"] == collector_pid
        assert winner["status"] == "ok", winner["reason"]
        assert "jobs" in winner["collections"]
        assert winner["receipts"] == winner["archives"] >= 1

        shipped = sorted(outbox.rglob("*.tar.gz"))
        assert len(shipped) == winner["receipts"]

        state = PostgresStore.from_dsn(postgres_dsn, table=table).load()
        assert state != State()
        assert state.last_gather is not None
        assert set(state.entries) == {"jobs"}
        assert state.entries["jobs"] == state.last_gather
