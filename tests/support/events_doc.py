"""Write docs/events.md from the catalogue: ``python tests/support/events_doc.py``."""

from __future__ import annotations

from pathlib import Path

from pipeline_collector.log import events_markdown

if __name__ == "__main__":
    target = Path(__file__).resolve().parents[2] / "docs" / "events.md"
    target.write_text(events_markdown(), encoding="utf-8")
