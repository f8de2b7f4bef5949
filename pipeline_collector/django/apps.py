"""The Django app that brings the ``gather_analytics`` management command."""

from __future__ import annotations

from django.apps import AppConfig


class PipelineCollectorConfig(AppConfig):  # type: ignore[misc]  # Django is untyped here
    """``INSTALLED_APPS += ["pipeline_collector.django"]``: no models, one command."""

    name = "pipeline_collector.django"
    label = "pipeline_collector"
    verbose_name = "pipeline-collector"
