"""``run_demo``: the demo's database, its collectors and one ``gather``, shipped locally.

Everything lives under one folder: the database (``jobs.sqlite3``), the
bookkeeping (``state.json``), the lock and the work folder, and the shipped
archives, under ``data/YYYY/MM/DD/`` by ``DirectoryTransport`` or, with
``ingress=True``, under ``received/`` by a local ingress started for the run
and stopped after it (``pipeline_collector.ingress.IngressServer``), reached
over HTTP on 127.0.0.1 like the cloud's.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import attrs

from ..config import RunConfig
from ..locks import FileLock
from ..protocols import Transport
from ..records import Run
from ..run.runner import gather
from ..stores import JsonFileStore
from ..transports import DirectoryTransport, HttpTransport
from .collectors import jobs_collectors
from .database import grow

__all__ = ["CONTENT_TYPE", "Demo", "run_demo"]

# A service the local ingress knows, as a real upload would name it.
CONTENT_TYPE = "application/vnd.redhat.tower.analytics+tgz"


@attrs.frozen(kw_only=True)
class Demo:
    """What a demo run did: the database grown, the run, where its archives went."""

    directory: Path
    database: Path
    events_added: int
    run: Run
    archives: tuple[Path, ...]  # shipped (or kept, in a dry run), in order
    url: str | None = None  # the local ingress's upload URL, when one was used

    @property
    def state(self) -> Path:
        return self.directory / "state.json"


def run_demo(
    directory: str | os.PathLike[str],
    *,
    ingress: bool = False,
    dry_run: bool = False,
    database: str | os.PathLike[str] | None = None,
    until: datetime | None = None,
) -> Demo:
    """Grow the demo database up to ``until`` (now), gather it and ship under ``directory``.

    A second call ships only what is new since the first.  ``dry_run``
    builds the archives and keeps them in ``directory/work``, shipping
    nothing; ``database`` puts the SQLite file elsewhere.
    """
    root = Path(directory)
    db = Path(database) if database is not None else root / "jobs.sqlite3"
    now = until if until is not None else datetime.now(timezone.utc)
    added = grow(db, now)
    root.mkdir(parents=True, exist_ok=True)
    if not ingress or dry_run:
        run = _gather(root, db, now, DirectoryTransport(root), dry_run=dry_run)
        kept = run.archives if dry_run else ()
        paths = tuple(a.path for a in kept) + _locations(run)
        return Demo(directory=root, database=db, events_added=added, run=run, archives=paths)
    from ..ingress import IngressServer  # a server: loaded only when asked for

    with IngressServer(root / "received") as server:
        transport = HttpTransport(url=server.url, content_type=CONTENT_TYPE)
        run = _gather(root, db, now, transport, dry_run=False)
        received = tuple(upload.path for upload in server.received)
    return Demo(
        directory=root,
        database=db,
        events_added=added,
        run=run,
        archives=received,
        url=server.url,
    )


def _gather(root: Path, db: Path, now: datetime, transport: Transport, *, dry_run: bool) -> Run:
    config = RunConfig(mode="dry-run" if dry_run else "manual", until=now, workdir=root / "work")
    return gather(
        jobs_collectors(db),
        config,
        state=JsonFileStore(root / "state.json"),
        transport=transport,
        lock=FileLock(root / ".lock"),
    )


def _locations(run: Run) -> tuple[Path, ...]:
    return tuple(Path(r.location) for r in run.receipts if r.location is not None)
