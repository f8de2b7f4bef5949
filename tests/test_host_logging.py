"""Inside a host that set up only stdlib logging, the library is a quiet guest."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

HOST = textwrap.dedent(
    """
    import json, logging, sys, tempfile
    logging.basicConfig(level=logging.WARNING)   # the host's own set-up, nothing else
    import pipeline_collector as pc
    from pipeline_collector.testing import FakeTransport, MemoryStore

    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append({"logger": record.name, "level": record.levelname,
                         "event": getattr(record, "event", None),
                         "fields": sorted(getattr(record, "fields", {})),
                         "traceback": record.exc_info is not None})

    if sys.argv[1:] == ["--keep"]:   # a handler of the host's on the package, at debug
        logging.getLogger("pipeline_collector").addHandler(Keep(level=logging.DEBUG))
        logging.getLogger("pipeline_collector").setLevel(logging.DEBUG)

    @pc.register("config", "1.0", config=True)
    def config(**kwargs):
        return {"v": "1"}

    @pc.register("broken", "1.0", format="csv")
    def broken(**kwargs):
        raise RuntimeError("database went away")

    run = pc.gather([config, broken], mode="manual", state=MemoryStore(),
                    transport=FakeTransport(), workdir=tempfile.mkdtemp(), lock=None)
    sys.stderr.write("RESULT " + json.dumps({"status": run.status, "seen": seen}) + "\\n")
    """
)


def run_host(tmp_path: Path, *args: str) -> tuple[str, str, dict[str, object]]:
    """Run the host program in a fresh interpreter; return stdout, stderr and its result."""
    script = tmp_path / "host.py"
    script.write_text(HOST)
    done = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("RESULT "))
    return done.stdout, done.stderr, json.loads(line[len("RESULT ") :])


class TestStdlibHost:
    """Events ride on the standard logging tree; nothing reaches stdout."""

    def test_nothing_on_stdout(self, tmp_path: Path) -> None:
        """A gather with only logging.basicConfig prints nothing on stdout."""
        for args in ((), ("--keep",)):
            stdout, _, result = run_host(tmp_path, *args)
            assert result["status"] == "partial"
            assert stdout == ""

    def test_warnings_reach_the_hosts_handlers_with_the_traceback(self, tmp_path: Path) -> None:
        """basicConfig's handler (stderr) shows the failure and the collector's traceback."""
        _, stderr, _ = run_host(tmp_path)
        assert "collection.failed" in stderr and "database went away" in stderr
        assert "Traceback" in stderr and "RuntimeError" in stderr
        assert "plan.made" not in stderr  # info is below the host's WARNING

    def test_a_handler_on_the_package_gets_every_event_with_its_fields(
        self, tmp_path: Path
    ) -> None:
        """Each event is a record of pipeline_collector.<stage>, fields kept; the failure has exc_info."""
        _, _, result = run_host(tmp_path, "--keep")
        seen = result["seen"]
        assert isinstance(seen, list)
        events = {r["event"] for r in seen}
        assert {"collectors.found", "plan.made", "collection.failed", "run.done"} <= events
        assert all(r["logger"] == f"pipeline_collector.{dict_stage(r)}" for r in seen)
        [failed] = [r for r in seen if r["event"] == "collection.failed"]
        assert failed["traceback"] is True and failed["level"] == "ERROR"
        assert {"key", "window", "error", "stage"} <= set(failed["fields"])


def dict_stage(record: dict[str, object]) -> str:
    """The stage a record's logger name should carry, from the catalogue."""
    from pipeline_collector.log import EVENTS

    event = record["event"]
    assert isinstance(event, str)
    stages = EVENTS[event].stages
    logger = record["logger"]
    assert isinstance(logger, str)
    stage = logger.rpartition(".")[2]
    assert stage in stages
    return stage
