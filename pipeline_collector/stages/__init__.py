"""The spine of the pipeline, one module per stage, in order.

``discover`` -> ``plan`` -> ``collect`` -> ``chunk`` -> ``pack`` ->
``archive`` -> ``ship``.  Each module holds plain functions over the frozen
records of ``pipeline_collector.records``; ``pipeline_collector.run.runner``
composes them.  Nothing is re-exported here, so ``import
pipeline_collector.stages.plan`` always gives the module.
"""
