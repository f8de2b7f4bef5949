"""One catalogue of log events: the code emits nothing it lacks, and the docs follow it."""

from __future__ import annotations

import ast
from pathlib import Path

from structlog.testing import capture_logs
from support.log_events import PACKAGE, emitted

import pipeline_collector as pc
from pipeline_collector.log import EVENTS, events_markdown, logger
from pipeline_collector.testing import FakeTransport, MemoryStore

ROOT = PACKAGE.parent


class TestCatalogue:
    """The catalogue in ``pipeline_collector.log`` lists what the code emits."""

    def test_every_emitted_event_is_catalogued(self) -> None:
        """Each event name in a logging call of the package is in EVENTS."""
        missing = sorted(
            {f"{e.name} ({e.module}:{e.line})" for e in emitted() if e.name not in EVENTS}
        )
        assert missing == []

    def test_every_field_is_catalogued(self) -> None:
        """Each field a call site passes is listed for its event."""
        extra = [
            f"{e.name}: {sorted(e.fields - set(EVENTS[e.name].fields))} ({e.module}:{e.line})"
            for e in emitted()
            if e.name in EVENTS and not e.fields <= set(EVENTS[e.name].fields)
        ]
        assert extra == []

    def test_every_module_logs_under_one_catalogued_stage(self) -> None:
        """A module that emits events has one ``logger(stage)``, and the event lists that stage."""
        wrong = [
            f"{e.name}: stage {e.stage!r} ({e.module}:{e.line})"
            for e in emitted()
            if e.name in EVENTS and e.stage not in EVENTS[e.name].stages
        ]
        assert wrong == []

    def test_every_event_is_logged_at_its_catalogued_level(self) -> None:
        """The level docs/events.md gives each event is the one its call sites log at (a
        call choosing between two, such as debug when scheduled, has it among them)."""
        wrong = [
            f"{e.name}: {sorted(e.levels)} not {EVENTS[e.name].level} ({e.module}:{e.line})"
            for e in emitted()
            if e.name in EVENTS and e.levels and EVENTS[e.name].level not in e.levels
        ]
        assert wrong == []

    def test_every_catalogued_event_is_emitted(self) -> None:
        """No entry of the catalogue is stale: some code emits each one."""
        names = {e.name for e in emitted()}
        assert sorted(set(EVENTS) - names) == []

    def test_docs_are_generated_from_the_catalogue(self) -> None:
        """docs/events.md is exactly what ``python tests/support/events_doc.py`` writes."""
        assert (ROOT / "docs" / "events.md").read_text(encoding="utf-8") == events_markdown()


class TestLoggers:
    """Loggers are bound with ``stage=`` and looked up lazily."""

    def test_no_logger_is_made_outside_log_module(self) -> None:
        """Only ``pipeline_collector.log`` makes loggers, so every logger is lazy and bound.

        The command line alone may reach the standard logging tree, for its own output.
        """
        makers = []
        for path in PACKAGE.rglob("*.py"):
            if path.name == "log.py" and path.parent == PACKAGE:
                continue
            cli = PACKAGE / "cli" in path.parents
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Attribute):
                    continue
                if node.attr == "get_logger" or (node.attr == "getLogger" and not cli):
                    makers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        assert makers == []

    def test_no_component_field(self) -> None:
        """The bound field is ``stage=`` everywhere, never ``component=``."""
        uses = [
            str(p.relative_to(ROOT))
            for p in PACKAGE.rglob("*.py")
            if "component=" in p.read_text(encoding="utf-8")
        ]
        assert uses == []

    def test_configuration_after_import_applies(self) -> None:
        """A logger made at import logs through the configuration in force when it logs."""
        log = logger("test")
        with capture_logs() as logs:
            log.info("plan.made", tasks=0)
        assert logs == [{"event": "plan.made", "stage": "test", "tasks": 0, "log_level": "info"}]

    def test_a_run_emits_only_catalogued_events(self, tmp_path: Path) -> None:
        """A shipping run's events, as captured, are all in the catalogue and carry a stage."""

        @pc.register("config", "1.0", config=True)
        def config(**kwargs: object) -> dict[str, str]:
            return {"v": "1"}

        @pc.register("rows", "1.0", format="csv")
        def rows(**kwargs: object) -> list[str]:
            return ["a,b", "1,2"]

        with capture_logs() as logs:
            run = pc.gather(
                [config, rows],
                mode="manual",
                state=MemoryStore(),
                transport=FakeTransport(),
                workdir=tmp_path,
                lock=None,
            )
        assert run.status == "ok"
        assert logs and all(e["event"] in EVENTS and "stage" in e for e in logs)
