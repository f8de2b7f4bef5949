"""The ``pipeline-collector`` command: gather, plan, inspect, ingress.

Everything the command does is the library's public functions with options
turned into arguments: ``gather`` runs ``pipeline_collector.gather``,
``plan`` runs ``discover`` and ``plan`` (slicers are called, collectors are
not), ``inspect`` checks archives against the contract with
``check_archive``, and ``ingress`` runs the local ingress.

Secrets come only from the environment, are refused in the config file and
in URLs, and are cut out of everything the command writes.

The modules: ``entry`` (parse and dispatch), ``declarations`` (every
option, once), ``parser`` (argparse and the help texts), ``config`` (the
TOML file), ``options`` (values), ``secrets``, ``loading`` (the user's
code), ``effects`` (store, lock, transport), ``console`` and ``progress``
(logs and the status line), ``report``, and ``commands`` (one per command).
"""

from __future__ import annotations

from .entry import main

__all__ = ["main"]
