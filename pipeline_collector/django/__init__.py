"""Django integration (``pip install 'pipeline-collector[django]'``).

Add ``"pipeline_collector.django"`` to ``INSTALLED_APPS`` and describe the
run in a ``PIPELINE_COLLECTOR`` settings dict (``conf``); then
``manage.py gather_analytics --dry-run`` or ``--ship`` runs it, and a
periodic task calls ``run.gather_analytics(mode="scheduled")``.  The state
store and the lock run on the service's own database connection by default.
"""
