"""Helpers for collector authors and the database adapters: COPY streams, connections.

``copy`` streams a ``COPY ... TO STDOUT`` as whole rows (``pipeline_collector.copy``
re-exports it); ``connection`` sees a service's own connection one way
whatever its kind; ``db`` holds what the PostgreSQL store and lock share.
"""
