"""Tools beside the run: archive checks, the chunking benchmark, metrics, OpenTelemetry.

``pipeline_collector.checks`` re-exports ``tools.checks``.  Nothing is
re-exported here.
"""
