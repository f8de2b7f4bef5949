"""Old-style collectors whose config collector fails."""

from pipeline_collector.compat import register


@register("config", "1.0", description="CONFIG", config=True)
def config(**kwargs):
    raise RuntimeError("settings table is unreachable")


@register("json1", "1.0", description="json1")
def json1(**kwargs):
    return {"json1": "True"}
