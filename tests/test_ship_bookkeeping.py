"""Shipping to a real ingress over loopback: a permanent failure and the run after it."""

from __future__ import annotations

import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pipeline_collector as pc
from pipeline_collector.ingress import Fail, IngressServer, Stall
from pipeline_collector.testing import FrozenClock

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
START = NOW - timedelta(days=3)
CONTENT_TYPE = "application/vnd.redhat.aap-event-driven-ansible.filename+tgz"


@pc.register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, Any]:
    return {"service": "eda"}


@pc.register("events", "1.0", format="csv", fnc_slicing=pc.slicers.daily)
def events(since: datetime, until: datetime, **kwargs: Any) -> Any:
    yield "ts\n"
    t = since
    while t < until:
        yield f"{t.isoformat()}\n"
        t += timedelta(hours=1)


def read_member(tar: tarfile.TarFile, member: str | tarfile.TarInfo) -> bytes:
    """The bytes of a regular member (``extractfile`` gives None for anything else)."""
    f = tar.extractfile(member)
    assert f is not None, member
    return f.read()


def received_rows(server: IngressServer) -> list[str]:
    rows: list[str] = []
    for upload in server.received:
        with tarfile.open(upload.path) as tar:
            rows += read_member(tar, "./events.csv").decode().splitlines()[1:]
    return rows


def test_failed_upload_advances_only_earlier_windows_and_next_run_ships_the_rest(
    tmp_path: Path,
) -> None:
    """After a 413 on the second upload, only the first window counts; the next run sends exactly the rest."""
    store = pc.JsonFileStore(tmp_path / "state.json")
    clock = FrozenClock(NOW)
    with IngressServer(tmp_path / "ingress") as server:
        transport = pc.HttpTransport(url=server.url, content_type=CONTENT_TYPE)
        server.script([Stall(0), Fail(413)])
        first = pc.gather(
            [config, events],
            mode="manual",
            state=store,
            transport=transport,
            clock=clock,
            since=START,
            workdir=tmp_path / "work",
        )
        assert first.status == "partial"
        assert [s.ok for s in first.shipments][:2] == [True, False]
        assert "413" in (first.shipments[1].error or "")
        assert len(server.received) == 1
        assert store.load().entries["events"] == datetime(2026, 11, 25, tzinfo=timezone.utc)

        clock.advance(timedelta(hours=1))
        second = pc.gather(
            [config, events],
            mode="manual",
            state=store,
            transport=transport,
            clock=clock,
            workdir=tmp_path / "work",
        )
        assert second.status == "ok"
        expected, t = [], START
        while t < clock.now:
            expected.append(t.isoformat())
            t += timedelta(hours=1)
        assert received_rows(server) == expected
        assert store.load().entries["events"] == clock.now
        assert all(u.content_type == CONTENT_TYPE for u in server.received)
