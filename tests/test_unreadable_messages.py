"""An exception whose ``str()`` raises never stops a run: its failure is recorded.

What collectors, slicers, hooks, layouts and transports raise is user code's;
reading its message is guarded everywhere (``errors.describe_exception``),
in the serial run and in worker processes alike.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

import pipeline_collector as pc
from pipeline_collector.errors import describe_exception, message_of
from pipeline_collector.naming import ArchiveInfo
from pipeline_collector.records import Archive, Receipt
from pipeline_collector.testing import FakeTransport, FrozenClock, MemoryStore

HERE = Path(__file__).resolve().parent
NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
SINCE = NOW - timedelta(days=2)
UNREAD = "Unreadable: <its message could not be read: KeyError>"


@pytest.fixture(scope="module")
def module() -> Iterator[ModuleType]:
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(HERE))
        yield importlib.import_module("support.unreadable_collectors")


def _gather(module: ModuleType, tmp: Path, **kwargs: Any) -> tuple[pc.Run, FakeTransport]:
    transport = kwargs.pop("transport", FakeTransport())
    run = pc.gather(
        module,
        mode="manual",
        state=MemoryStore(),
        transport=transport,
        lock=pc.FileLock(tmp / "run.lock"),
        since=SINCE,
        clock=FrozenClock(NOW),
        workdir=tmp / "work",
        **kwargs,
    )
    return run, transport


def _errors(run: pc.Run) -> dict[str, str]:
    found = {c.key: c.error or "" for c in run.collections if c.status == "failed"}
    found |= {p.key: p.message for p in (run.plan.problems if run.plan else ())}
    return found


class TestDescribeException:
    def test_a_message_that_raises_is_named_not_raised(self, module: ModuleType) -> None:
        assert describe_exception(module.Unreadable()) == UNREAD
        assert message_of(module.Unreadable()) == "<its message could not be read: KeyError>"

    def test_a_message_that_is_not_a_string_is_named_not_raised(self) -> None:
        class NotText(Exception):
            def __str__(self) -> Any:
                return 42

        assert describe_exception(NotText()) == (
            "NotText: <its message could not be read: TypeError>"
        )

    def test_a_key_error_keeps_its_usual_form(self) -> None:
        assert describe_exception(KeyError("jobs")) == "KeyError: 'jobs'"


class TestSerialRun:
    def test_collectors_and_slicers_that_raise_unreadable_fail_their_key_only(
        self, module: ModuleType, tmp_path: Path
    ) -> None:
        run, transport = _gather(module, tmp_path)
        errors = _errors(run)
        assert errors["broken"] == f"collector 'broken' raised {UNREAD}"
        assert errors["broken_rows"] == f"collector 'broken_rows' raised {UNREAD}"
        assert errors["sliced"] == f"slicer of 'sliced' raised {UNREAD}"
        assert run.status == "partial"
        assert [c.status for c in run.collections if c.key == "fine"] == ["ok"]
        assert len(transport.sent) == 1

    def test_in_worker_processes_too(self, module: ModuleType, tmp_path: Path) -> None:
        with ProcessPoolExecutor(max_workers=2) as pool:
            run, transport = _gather(module, tmp_path, executor=pool)
        errors = _errors(run)
        assert errors["broken"] == f"collector 'broken' raised {UNREAD}"
        assert errors["broken_rows"] == f"collector 'broken_rows' raised {UNREAD}"
        assert len(transport.sent) == 1

    def test_an_amend_config_hook_that_raises_unreadable(
        self, module: ModuleType, tmp_path: Path
    ) -> None:
        def hook(document: dict[str, Any]) -> NoReturn:
            raise module.Unreadable

        run, transport = _gather(module, tmp_path, amend_config=hook)
        assert _errors(run)["config"] == f"amend_config raised {UNREAD}"
        assert run.status == "failed"
        assert transport.sent == []

    def test_a_name_hook_that_raises_unreadable_is_refused_before_the_run(
        self, module: ModuleType, tmp_path: Path
    ) -> None:
        def name(info: ArchiveInfo) -> NoReturn:
            raise module.Unreadable

        with pytest.raises(pc.ConfigurationError) as caught:
            _gather(module, tmp_path, name=name)
        assert str(caught.value) == f"the archive name function raised {UNREAD}"

    def test_a_transport_that_raises_unreadable_fails_the_shipment(
        self, module: ModuleType, tmp_path: Path
    ) -> None:
        class Hostile:
            def send(self, archive: Archive) -> Receipt:
                raise module.Unreadable

        run, _ = _gather(module, tmp_path, transport=Hostile())
        assert [s.error for s in run.shipments] == [UNREAD]
        assert run.status in ("partial", "failed")

    def test_a_layout_that_raises_unreadable_fails_the_shipment(
        self, module: ModuleType, tmp_path: Path
    ) -> None:
        def layout(info: ArchiveInfo) -> NoReturn:
            raise module.Unreadable

        dest = pc.DirectoryTransport(tmp_path / "dest", layout=layout)
        run, _ = _gather(module, tmp_path, transport=dest)
        assert [s.error for s in run.shipments] == [f"the directory layout raised {UNREAD}"]


def test_a_collector_module_whose_import_raises_unreadable(tmp_path: Path) -> None:
    """The command names the module and the exception, exit 2, no traceback."""
    path = tmp_path / "hostile.py"
    path.write_text(
        "class Unreadable(Exception):\n"
        "    def __str__(self):\n"
        "        raise KeyError('x')\n"
        "raise Unreadable\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pipeline_collector", "plan", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert f"importing {path} failed: {UNREAD}" in done.stderr
    assert "Traceback" not in done.stderr
