"""The first errors a user meets: each one line naming the value and the fix, raised before
anything is collected, moved or created."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import pipeline_collector as pc
from pipeline_collector.errors import ConfigurationError
from pipeline_collector.testing import FakeTransport, MemoryStore

ROOT = Path(__file__).resolve().parents[1]
UNTIL = datetime(2026, 11, 27, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def run_python(
    args: list[str], tmp_path: Path, *, block: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run Python in a clean environment; ``block`` names a module whose import then fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_COLLECTOR_")}
    if block is not None:
        site = tmp_path / "blocker"
        site.mkdir(exist_ok=True)
        # None in sys.modules makes every import of the package raise ImportError.
        (site / "sitecustomize.py").write_text(f"import sys\nsys.modules[{block!r}] = None\n")
        env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


MARKED_MODULE = """\
    import pathlib
    import pipeline_collector as pc

    MARK = pathlib.Path(__file__).with_name("collected")

    @pc.register("config", "1.0", config=True)
    def config(**kwargs):
        MARK.write_text("called")
        return {}

    @pc.register("jobs", "1.0")
    def jobs(**kwargs):
        MARK.write_text("called")
        return {"n": 1}
    """


@pytest.fixture
def marked(tmp_path: Path) -> Path:
    """A collector module that leaves a file behind when any collector is called."""
    path = tmp_path / "marked.py"
    path.write_text(textwrap.dedent(MARKED_MODULE))
    return path


class TestIngressBusyPort:
    def test_port_in_use_is_one_line_exit_2_and_no_folder(self, tmp_path: Path) -> None:
        """A busy port: exit 2, one line naming the port and the fix, no traceback, no folder."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            folder = tmp_path / "received"
            result = run_python(
                ["-m", "pipeline_collector", "ingress", "--port", str(port), "--dir", str(folder)],
                tmp_path,
            )
        assert result.returncode == 2
        (line,) = error_lines(result)
        assert f"127.0.0.1:{port}" in line and "choose another --port" in line
        assert "Traceback" not in result.stderr
        assert not folder.exists()

    def test_bad_option_is_short(self, tmp_path: Path) -> None:
        """A bad ingress option: the usage line, the error and a hint to --help."""
        result = run_python(["-m", "pipeline_collector", "ingress", "--bogus"], tmp_path)
        assert result.returncode == 2
        lines = error_lines(result)
        assert len(lines) == 3 and "--bogus" in lines[1] and "--help" in lines[2]


class TestMissingExtras:
    @pytest.mark.parametrize(
        ("blocked", "options", "extra"),
        [
            ("boto3", ["--s3-bucket", "analytics"], "pipeline-collector[s3]"),
            ("psycopg", ["--lock", "postgresql://localhost/db"], "pipeline-collector[postgres]"),
        ],
    )
    def test_gather_stops_before_collecting(
        self, tmp_path: Path, marked: Path, blocked: str, options: list[str], extra: str
    ) -> None:
        """A destination or lock whose package is missing stops gather before any collector."""
        state = tmp_path / "state.json"
        state.write_text('{"last_gather": null, "entries": {}}')
        before = state.read_bytes()
        result = run_python(
            [
                "-m",
                "pipeline_collector",
                "gather",
                str(marked),
                "--mode",
                "manual",
                "--state",
                str(state),
                "--log-format",
                "console",
                *options,
            ],
            tmp_path,
            block=blocked,
        )
        assert result.returncode == 2, result.stderr
        (line,) = error_lines(result)
        assert "not installed" in line and f"pip install '{extra}'" in line
        assert not (tmp_path / "collected").exists()
        assert state.read_bytes() == before

    def test_compressor_is_refused_when_built(self, tmp_path: Path, marked: Path) -> None:
        """A compressor whose package is missing raises when built, so no run starts."""
        script = textwrap.dedent(
            f"""\
            import importlib.util, pathlib
            import pipeline_collector as pc
            from pipeline_collector.compress import ZlibCompressor
            from pipeline_collector.errors import MissingExtra
            spec = importlib.util.spec_from_file_location("marked", {str(marked)!r})
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            store = pc.JsonFileStore({str(tmp_path / "state.json")!r})
            for build in (lambda: pc.get_compressor("isal"), lambda: ZlibCompressor("isal", 1)):
                try:
                    pc.gather(module, state=store, transport=pc.DirectoryTransport(
                        {str(tmp_path / "out")!r}), mode="manual", compressor=build())
                except MissingExtra as e:
                    assert isinstance(e, ImportError) and isinstance(e, pc.ConfigurationError)
                    print(e)
            """
        )
        result = run_python(["-c", script], tmp_path, block="isal")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert len(lines) == 2
        assert all(
            "'isal'" in line and "pip install 'pipeline-collector[isal]'" in line for line in lines
        )
        assert not (tmp_path / "collected").exists()
        assert not (tmp_path / "state.json").exists() and not (tmp_path / "out").exists()

    def test_bench_names_the_missing_compressor(self, tmp_path: Path) -> None:
        """bench --compressor isal:1 without isal: exit 2, one line with the install command."""
        data = tmp_path / "rows.csv"
        data.write_text("a,b\n1,2\n")
        result = run_python(
            ["-m", "pipeline_collector", "bench", "--csv", str(data), "--compressor", "isal:1"],
            tmp_path,
            block="isal",
        )
        assert result.returncode == 2
        (line,) = error_lines(result)
        assert "pip install 'pipeline-collector[isal]'" in line


def _module_collectors(calls: list[str]) -> list[Any]:
    @pc.register("config", "1.0", config=True)
    def config(**kwargs: Any) -> dict[str, Any]:
        calls.append("config")
        return {}

    @pc.register("jobs", "1.0")
    def jobs(**kwargs: Any) -> dict[str, Any]:
        calls.append("jobs")
        return {}

    return [config, jobs]


class TestGatherArguments:
    @pytest.mark.parametrize(
        ("argument", "value", "fix"),
        [
            ("state", "state.json", "pc.JsonFileStore('state.json')"),
            ("state", Path("state.json"), "pc.JsonFileStore('state.json')"),
            ("transport", "out/", "pc.DirectoryTransport('out/')"),
            ("lock", "run.lock", "pc.FileLock('run.lock')"),
            ("compressor", "isal", "pc.get_compressor('isal')"),
        ],
    )
    def test_a_path_instead_of_an_effect(self, argument: str, value: Any, fix: str) -> None:
        """A path or name where a store, transport, lock or compressor belongs is named at once."""
        calls: list[str] = []
        kwargs: dict[str, Any] = {"state": MemoryStore(), "transport": FakeTransport()}
        kwargs[argument] = value
        with pytest.raises(ConfigurationError) as caught:
            pc.gather(_module_collectors(calls), mode="manual", until=UNTIL, **kwargs)
        message = str(caught.value)
        assert message.startswith(f"{argument}={value!r} is a {type(value).__name__}, not ")
        assert fix in message and "\n" not in message
        assert calls == []

    @pytest.mark.parametrize(
        ("sizes", "words"),
        [
            ({"max_upload_size": 1000}, "max_upload_size=1000 (1000 B) is too small"),
            ({"max_upload_size": 1000}, "more than 131072 bytes (128 KiB)"),
            ({"max_data_size": 0}, "max_data_size=0 must be positive"),
            ({"max_data_size": "50MiB"}, "max_data_size='50MiB' must be a whole number of bytes"),
        ],
    )
    def test_sizes_name_the_value_and_the_minimum(self, sizes: dict[str, Any], words: str) -> None:
        """A size an archive cannot fit in says which, its value, and what it must be."""
        calls: list[str] = []
        with pytest.raises(ConfigurationError) as caught:
            pc.gather(_module_collectors(calls), until=UNTIL, **sizes)
        assert words in str(caught.value) and calls == []


class TestCollectorSignature:
    def test_collector_without_kwargs_is_refused_at_discovery(self, tmp_path: Path) -> None:
        """A collector that cannot take the call's keywords is named at discovery, not mid-run."""

        @pc.register("jobs", "1.0")
        def jobs(since: datetime, until: datetime) -> list[str]:
            return []

        with pytest.raises(ConfigurationError) as caught:
            pc.discover([_module_collectors([])[0], jobs])
        message = str(caught.value)
        assert "collector 'jobs'" in message
        assert "full_path, max_data_size, collection_type" in message
        assert "**kwargs" in message

    def test_required_parameter_never_passed(self) -> None:
        """A parameter the pipeline never passes, without a default, is named."""

        @pc.register("jobs", "1.0")
        def jobs(connection: Any, **kwargs: Any) -> list[str]:
            return []

        with pytest.raises(ConfigurationError, match=r"collector 'jobs' .*requires 'connection'"):
            pc.discover([_module_collectors([])[0], jobs])

    def test_keywords_by_name_are_enough(self) -> None:
        """A collector naming every keyword it is called with, without **kwargs, is accepted."""

        @pc.register("jobs", "1.0")
        def jobs(
            since: datetime,
            until: datetime,
            full_path: str,
            max_data_size: int,
            collection_type: str,
            extra: int = 0,
        ) -> list[str]:
            return []

        assert [c.key for c in pc.discover([_module_collectors([])[0], jobs])] == ["config", "jobs"]

    def test_plan_refuses_it_too(self, tmp_path: Path) -> None:
        """`plan`, which calls no collector, already says which collector and what is missing."""
        module = tmp_path / "narrow.py"
        module.write_text(
            textwrap.dedent(
                """\
                import pipeline_collector as pc

                @pc.register("config", "1.0", config=True)
                def config(**kwargs):
                    return {}

                @pc.register("jobs", "1.0")
                def jobs(since, until):
                    return []
                """
            )
        )
        result = run_python(["-m", "pipeline_collector", "plan", str(module)], tmp_path)
        assert result.returncode == 2
        (line,) = error_lines(result)
        assert "collector 'jobs'" in line and "full_path" in line


class TestBadOption:
    @pytest.mark.parametrize(
        ("argv", "words"),
        [
            (["gather", "--bogus"], "unrecognized arguments: --bogus"),
            (["gather", "--mode", "fast"], "invalid choice: 'fast'"),
            (["plan", "--since"], "expected one argument"),
            (["status", "--max-lag", "soon"], "not a duration"),
        ],
    )
    def test_usage_line_error_and_hint(self, tmp_path: Path, argv: list[str], words: str) -> None:
        """A bad option: the command's one usage line, the error, and a hint to --help."""
        result = run_python(["-m", "pipeline_collector", *argv], tmp_path)
        assert result.returncode == 2
        lines = error_lines(result)
        assert len(lines) == 3, result.stderr
        assert lines[0].startswith(f"usage: pipeline-collector {argv[0]} [OPTIONS]")
        assert words in lines[1]
        assert lines[2] == f"Run 'pipeline-collector {argv[0]} --help' to see every option."


@pytest.fixture
def shipped_run(tmp_path: Path) -> Iterator[pc.Run]:
    """A real run over a few windows, shipped to a folder."""

    @pc.register("config", "1.0", config=True)
    def config(**kwargs: Any) -> dict[str, Any]:
        return {"version": "1"}

    def days(key: str, last_gather: datetime, **kwargs: Any) -> Iterator[tuple[datetime, datetime]]:
        start = kwargs.get("since") or last_gather
        while start < kwargs["until"]:
            yield start, min(start + DAY, kwargs["until"])
            start += DAY

    @pc.register("events", "1.0", format="csv", fnc_slicing=days)
    def events(since: datetime, **kwargs: Any) -> Iterator[str]:
        yield "id,at\n"
        for n in range(50):
            yield f"{n},{since.isoformat()}\n"

    yield pc.gather(
        [config, events],
        state=MemoryStore(),
        transport=pc.DirectoryTransport(tmp_path / "out"),
        lock=None,
        mode="manual",
        since=UNTIL - 20 * DAY,
        until=UNTIL,
        workdir=tmp_path / "work",
    )


class TestRunSummary:
    def test_str_is_one_short_line_repr_is_the_record(self, shipped_run: pc.Run) -> None:
        """str(run) is one line with the status and counts; repr keeps every record."""
        text = str(shipped_run)
        assert "\n" not in text and len(text) < 200
        assert text.startswith("run ok (manual): 20 collections (20 ok), 20 archives, 20 shipped")
        full = repr(shipped_run)
        assert full.startswith("Run(") and len(full) > 10 * len(text)
        assert "Collection(" in full and "Shipment(" in full

    def test_long_reason_is_cut(self) -> None:
        """A long reason is cut, so the summary stays short."""
        run = pc.Run(mode="manual", status="partial", reason="x failed; " * 100)
        assert len(str(run)) < 300 and str(run).endswith("…")
        assert "\n" not in str(run)
