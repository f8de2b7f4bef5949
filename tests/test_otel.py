"""OpenTelemetry metrics: otel.record(run) puts figures(run) on the host's meter, as read back by a real SDK."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Histogram, InMemoryMetricReader

import pipeline_collector as pc
from pipeline_collector.errors import ConfigurationError
from pipeline_collector.records import Run
from pipeline_collector.testing import FakeLock, FakeTransport, FrozenClock, MemoryStore
from pipeline_collector.tools import otel
from pipeline_collector.tools.metrics import figures

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
START = datetime(2026, 11, 25, tzinfo=timezone.utc)

RUN_COUNTED = (
    "rows",
    "bytes",
    "parts",
    "archives",
    "shipped_archives",
    "shipped_bytes",
    "failures",
)
KEY_COUNTED = ("rows", "bytes", "parts", "archives", "shipped_archives", "failures")


@pc.register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, Any]:
    return {"service": "demo"}


@pc.register("events", "1.0", format="csv", fnc_slicing=pc.slicers.daily)
def events(since: datetime, **kwargs: Any) -> Iterator[str]:
    yield "ts,n\n"
    for n in range(10):
        yield f"{since.isoformat()},{n}\n"


@pc.register("hosts", "1.0")
def hosts(**kwargs: Any) -> dict[str, Any]:
    return {"count": 3}


def partial_run(tmp_path: Path) -> Run:
    """Three daily windows of events and a JSON key; the second upload is refused."""
    return pc.gather(
        [config, events, hosts],
        mode="manual",
        state=MemoryStore(),
        transport=FakeTransport(fail_on={2}),
        lock=FakeLock(),
        clock=FrozenClock(NOW),
        since=START,
        workdir=tmp_path / "work",
    )


Point = tuple[str, frozenset[tuple[str, Any]]]


class Readings:
    """What an InMemoryMetricReader holds: values by (instrument, attributes), units, descriptions."""

    def __init__(self, reader: InMemoryMetricReader) -> None:
        self.values: dict[Point, Any] = {}
        self.units: dict[str, str] = {}
        self.descriptions: dict[str, str] = {}
        self.scopes: set[str] = set()
        data = reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                self.scopes.add(scope.scope.name)
                for metric in scope.metrics:
                    self.units[metric.name] = metric.unit or ""
                    self.descriptions[metric.name] = metric.description or ""
                    for p in metric.data.data_points:
                        at = frozenset((p.attributes or {}).items())
                        if isinstance(metric.data, Histogram):
                            self.values[(metric.name, at)] = (p.sum, p.count)  # type: ignore[union-attr]
                        else:
                            self.values[(metric.name, at)] = p.value  # type: ignore[union-attr]

    def __call__(self, name: str, **attributes: Any) -> Any:
        return self.values[(f"pipeline_collector.{name}", frozenset(attributes.items()))]


@pytest.fixture
def sdk() -> Iterator[tuple[MeterProvider, InMemoryMetricReader]]:
    """A real SDK provider with an in-memory reader (cumulative), shut down afterwards."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    yield provider, reader
    provider.shutdown()


class TestRecord:
    """Each instrument reads the value figures(run) gives."""

    def test_values_equal_the_figures(
        self, tmp_path: Path, sdk: tuple[MeterProvider, InMemoryMetricReader]
    ) -> None:
        """Run and key counters, the duration histograms and the lag gauges equal figures(run)."""
        provider, reader = sdk
        run = partial_run(tmp_path)
        otel.record(run, meter=provider.get_meter("svc"))
        got, figs = Readings(reader), figures(run)
        total = figs["run"]
        assert total["status"] == "partial" and total["failures"] == 1 and total["rows"] == 20
        assert got("runs", mode="manual", status="partial") == 1
        assert got("run.duration", mode="manual", status="partial") == (total["seconds"], 1)
        assert got("run.started", mode="manual") == total["timestamp"]
        for name in RUN_COUNTED:
            assert got(f"run.{name}", mode="manual") == total[name], name
        assert set(figs["keys"]) == {"events", "hosts"}
        for key, k in figs["keys"].items():
            for name in KEY_COUNTED:
                assert got(f"key.{name}", key=key, mode="manual") == k[name], (key, name)
            assert got("key.duration", key=key, mode="manual") == (k["seconds"], 1)
            if k["shipped_until"] is not None:
                assert got("key.shipped_until", key=key, mode="manual") == k["shipped_until"]
                assert got("key.lag", key=key, mode="manual") == k["lag_seconds"]
        assert got("key.lag", key="events", mode="manual") == timedelta(hours=36).total_seconds()

    def test_every_instrument_is_recorded_with_its_unit_and_description(
        self, tmp_path: Path, sdk: tuple[MeterProvider, InMemoryMetricReader]
    ) -> None:
        """The instruments read back are exactly INSTRUMENTS, each with its unit and description."""
        provider, reader = sdk
        otel.record(partial_run(tmp_path), meter=provider.get_meter("svc"))
        got = Readings(reader)
        assert set(got.units) == set(otel.INSTRUMENTS)
        for name, (_, unit, description) in otel.INSTRUMENTS.items():
            assert (got.units[name], got.descriptions[name]) == (unit, description)

    def test_counters_add_up_over_runs_and_gauges_keep_the_last(
        self, tmp_path: Path, sdk: tuple[MeterProvider, InMemoryMetricReader]
    ) -> None:
        """Two runs on one meter: counters hold the sum of both, gauges the second run's value."""
        provider, reader = sdk
        meter = provider.get_meter("svc")
        first, second = partial_run(tmp_path / "a"), partial_run(tmp_path / "b")
        otel.record(first, meter=meter)
        otel.record(second, meter=meter, now=NOW + timedelta(hours=1))
        got = Readings(reader)
        a, b = figures(first), figures(second, now=NOW + timedelta(hours=1))
        assert got("runs", mode="manual", status="partial") == 2
        for name in RUN_COUNTED:
            assert got(f"run.{name}", mode="manual") == a["run"][name] + b["run"][name]
        lag = b["keys"]["events"]["lag_seconds"]
        assert lag == a["keys"]["events"]["lag_seconds"] + 3600
        assert got("key.lag", key="events", mode="manual") == lag

    def test_figures_of_worker_processes_are_recorded(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        sdk: tuple[MeterProvider, InMemoryMetricReader],
    ) -> None:
        """A run whose collections ran in a process pool, shipped to a folder, records their rows and bytes."""
        monkeypatch.syspath_prepend(str(ROOT / "tests"))
        module = importlib.import_module("support.executor_collectors")
        where = tmp_path / "where"
        where.mkdir()
        monkeypatch.setenv(module.WHERE, str(where))
        clock = FrozenClock(datetime(2026, 11, 27, tzinfo=timezone.utc))
        with ProcessPoolExecutor(max_workers=2) as pool:
            run = pc.gather(
                module,
                mode="manual",
                clock=clock,
                executor=pool,
                state=MemoryStore(),
                transport=pc.DirectoryTransport(tmp_path / "out"),
                lock=FakeLock(),
                since=clock.now - timedelta(days=3),
                workdir=tmp_path / "w",
            )
        provider, reader = sdk
        otel.record(run, meter=provider.get_meter("svc"))
        got, figs = Readings(reader), figures(run)
        pids = {int(f.name.split("-", 1)[0]) for f in where.iterdir()}
        assert pids and os.getpid() not in pids  # the collecting was done in other processes
        rows = sum(c.rows for c in run.collections)
        assert rows > 0 and got("run.rows", mode="manual") == rows
        assert got("run.shipped_archives", mode="manual") == len(
            list((tmp_path / "out").rglob("*.tar.gz"))
        )
        for key, k in figs["keys"].items():
            mine = [c for c in run.collections if c.key == key]
            assert got("key.rows", key=key, mode="manual") == sum(c.rows for c in mine) == k["rows"]
            assert got("key.bytes", key=key, mode="manual") == sum(c.bytes for c in mine)


HOST = textwrap.dedent(
    """
    import json, tempfile
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    import pipeline_collector as pc
    from pipeline_collector.tools import otel
    from pipeline_collector.testing import MemoryStore, FakeTransport

    @pc.register("config", "1.0", config=True)
    def config(**kwargs):
        return {"v": "1"}

    def run():
        return pc.gather([config], mode="manual", state=MemoryStore(), transport=FakeTransport(),
                         workdir=tempfile.mkdtemp(), lock=None)

    otel.record(run())  # no provider yet: the API's no-op, and nothing is set for the host
    before = type(metrics.get_meter_provider()).__name__
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))  # the host's choice
    otel.record(run())
    found = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for p in m.data.data_points:
                    if m.name == "pipeline_collector.runs":
                        found[sm.scope.name] = p.value
    print(json.dumps({"before": before, "runs": found}))
    """
)


class TestProvider:
    """The host owns the meter provider; the library only uses it."""

    def test_the_global_provider_is_used_and_never_set(self, tmp_path: Path) -> None:
        """Without meter=, record() uses the global provider the host set, and sets none itself."""
        script = tmp_path / "host.py"
        script.write_text(HOST)
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
        )
        result = json.loads(done.stdout)
        assert result["before"] == "_ProxyMeterProvider"  # still the API's placeholder
        assert result["runs"] == {otel.SCOPE: 1}  # only the run after the host set a provider

    def test_missing_extra_names_the_install_line(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without opentelemetry-api, record() raises one line naming pip install 'pipeline-collector[otel]'."""
        run = partial_run(tmp_path)
        monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import opentelemetry fails
        with pytest.raises(ConfigurationError) as caught:
            otel.record(run)
        message = str(caught.value)
        assert "pip install 'pipeline-collector[otel]'" in message and "\n" not in message


class TestDocs:
    def test_docs_list_every_instrument(self) -> None:
        """docs/metrics.md has one table row per instrument, with its kind, unit and meaning."""
        text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
        rows = {line for line in text.splitlines() if line.startswith("| `pipeline_collector.")}
        assert rows == {
            f"| `{name}` | {kind} | `{unit}` | {meaning} |"
            for name, (kind, unit, meaning) in otel.INSTRUMENTS.items()
        }

    def test_docs_list_every_prometheus_family(self) -> None:
        """docs/metrics.md has one table row per textfile family, with its help text."""
        from pipeline_collector.tools.metrics import FAMILIES

        text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
        rows = {line for line in text.splitlines() if line.startswith("| `pipeline_collector_")}
        assert rows == {f"| `pipeline_collector_{n}` | {h} |" for n, h in FAMILIES.items()}
