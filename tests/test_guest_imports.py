"""A run loads only what it uses: a host that never made a process pool pays for none.

``multiprocessing`` (through ``concurrent.futures.process``) is about a megabyte
and a half of a service's memory; ``structlog`` is loaded only for a host that
configured it.  A run is made in a fresh interpreter, large enough that its
collection is compressed in the compressor process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

PROBE = textwrap.dedent(
    """
    import json, sys, tempfile
    from pathlib import Path
    import pipeline_collector as pc

    @pc.register("config", "1.0", config=True)
    def config(**kw):
        return {"version": "1"}

    @pc.register("rows", "1.0", format="csv")
    def rows(**kw):
        yield "id,text\\n"
        for i in range(60_000):  # about 4 MiB: past the size that starts the compressor process
            yield f"{i},{'x' * 60}\\n"

    executor = None
    if sys.argv[1] == "process-pool":
        from concurrent.futures import ProcessPoolExecutor
        executor = ProcessPoolExecutor(max_workers=1)
    with tempfile.TemporaryDirectory() as d:
        run = pc.gather([config, rows], mode="dry-run", workdir=Path(d), executor=executor)
    if executor is not None:
        executor.shutdown()
    names = ("multiprocessing", "concurrent.futures.process", "structlog")
    print(json.dumps({"status": run.status, "archives": len(run.archives),
                      "loaded": [m for m in names if m in sys.modules]}))
    """
)


def probe(tmp_path: Path, how: str) -> dict[str, object]:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    done = subprocess.run(
        [sys.executable, str(script), how], capture_output=True, text=True, timeout=120, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_a_run_without_a_process_pool_loads_no_multiprocessing(tmp_path: Path) -> None:
    """A serial run (the compressor process included) loads neither multiprocessing nor structlog."""
    result = probe(tmp_path, "serial")
    assert result["status"] == "ok" and result["archives"] == 1
    assert result["loaded"] == []


def test_a_run_on_a_process_pool_has_it_loaded_by_the_host(tmp_path: Path) -> None:
    """The probe can see the modules: with the host's process pool they are there."""
    result = probe(tmp_path, "process-pool")
    assert result["status"] == "ok" and result["archives"] == 1
    assert result["loaded"] == ["multiprocessing", "concurrent.futures.process"]
