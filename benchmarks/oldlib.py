"""``insights-analytics-collector`` 0.3.2, driven as AWX drives it, for the ratios."""

from __future__ import annotations

import os
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import workload

__all__ = ["gather_old", "installed", "old_library", "run_old"]


def installed() -> bool:
    try:
        old_library(1 << 20)
    except ImportError:
        return False
    return True


def old_library(max_data: int) -> tuple[Any, Any, Any]:
    """The old ``Collector`` subclass, its ``CsvFileSplitter`` and ``register``."""
    from django.conf import settings

    if not settings.configured:
        settings.configure(USE_TZ=True)
    from insights_analytics_collector import (
        Collector,
        CsvFileSplitter,
        Package,
        register,
    )

    class BenchPackage(Package):  # type: ignore[misc]
        MAX_DATA_SIZE = max_data
        PAYLOAD_CONTENT_TYPE = "application/vnd.redhat.benchmark.filename+tgz"

        def get_ingress_url(self) -> None:
            return None

        def get_s3_configured(self) -> bool:
            return False

        def _get_http_request_headers(self) -> dict[str, str]:
            return {}

        def _get_rh_user(self) -> str:
            return ""

        def _get_rh_password(self) -> str:
            return ""

        def _get_rh_region(self) -> str:
            return ""

        def _get_rh_bucket(self) -> str:
            return ""

    class BenchCollector(Collector):  # type: ignore[misc]
        @staticmethod
        def db_connection() -> None:
            return None

        @staticmethod
        def _package_class() -> type:
            return BenchPackage

        def _is_valid_license(self) -> bool:
            return True

        def _is_shipping_configured(self) -> bool:
            return True

        def _last_gathering(self) -> None:
            return None

        def _load_last_gathered_entries(self) -> dict[str, Any]:
            return {}

        def _save_last_gathered_entries(self, entries: dict[str, Any]) -> None:
            pass

        def _save_last_gather(self) -> None:
            pass

    return BenchCollector, CsvFileSplitter, register


def gather_old(max_data: int, folder: Path, fill: Callable[[Any], None]) -> list[str]:
    """A dry-run gather of the old library whose CSV collector ``fill``s its splitter.

    The archive paths.  ``fill`` gets the ``CsvFileSplitter`` the collector
    opened, as a module written for the old library hands it to ``copy_expert``.
    """
    collector_class, splitter, register = old_library(max_data)

    @register("config", "1.0", description="benchmark config", config=True)  # type: ignore[untyped-decorator]
    def config(**kwargs: Any) -> dict[str, str]:
        return {"version": "benchmark"}

    @register("job_events", "1.0", format="csv", description="job events")  # type: ignore[untyped-decorator]
    def job_events(full_path: str, max_data_size: int, **kwargs: Any) -> list[str]:
        out = splitter(
            filespec=os.path.join(full_path, "job_events_table.csv"), max_file_size=max_data_size
        )
        fill(out)
        return out.file_list()  # type: ignore[no-any-return]

    module = types.ModuleType("benchmark_old_collectors")
    module.config = config  # type: ignore[attr-defined]
    module.job_events = job_events  # type: ignore[attr-defined]
    tmp = folder / "stage-root"
    tmp.mkdir()
    collector = collector_class(collection_type="dry-run", collector_module=module)
    paths: list[str] = collector.gather(dest=str(tmp)) or []
    return paths


def run_old(size: int, max_data: int, folder: Path, kind: str) -> list[str]:
    """A dry-run gather of the old library over the same rows; the archive paths."""

    def fill(out: Any) -> None:
        # What copy_expert(sql, CsvFileSplitter(...)) does: one write() per row.
        for row in workload.text_rows(size, kind=kind):
            out.write(row)

    return gather_old(max_data, folder, fill)
