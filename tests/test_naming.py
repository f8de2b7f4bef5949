"""Archive names, destination layouts and the config amendment, set by the caller."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

import pipeline_collector as pc
from pipeline_collector.naming import STAMP, ArchiveInfo, by_ship_date, prefixed
from pipeline_collector.testing import FakeTransport, MemoryStore

UNTIL = datetime(2026, 11, 27, 17, 5, 9, tzinfo=timezone.utc)
SHIPPED = datetime(2026, 12, 1, 8, tzinfo=timezone.utc)


def daily(key: str, last_gather: datetime, **kwargs: Any) -> Iterator[tuple[datetime, datetime]]:
    start, until = kwargs["since"], kwargs["until"]
    while start < until:
        end = min(start.replace(hour=0, minute=0, second=0) + timedelta(days=1), until)
        yield start, end
        start = end


def collectors() -> list[Any]:
    @pc.register("config", "1.0", config=True)
    def config(**kwargs: Any) -> dict[str, Any]:
        return {"install_uuid": "u-1", "billing_provider_params": {}}

    @pc.register("counts", "1.0")
    def counts(**kwargs: Any) -> dict[str, int]:
        return {"jobs": 3}

    @pc.register("summary", "1.0", format="csv", fnc_slicing=daily)
    def summary(since: datetime, until: datetime, **kwargs: Any) -> list[str]:
        return ["since,until\n", f"{since.isoformat()},{until.isoformat()}\n"]

    return collectors_list(config, counts, summary)


def collectors_list(*funcs: Any) -> list[Any]:
    return list(funcs)


def missing(_: Any) -> Any:
    """A callable that fails as a typo would."""
    raise KeyError("x")


def mu_name(a: ArchiveInfo) -> str:
    return f"u-1-{a.window.since:{STAMP}}-{a.window.until:{STAMP}}-{a.index}.tar.gz"


def per_day(a: ArchiveInfo) -> str:
    return f"data/{a.window.since:%Y/%m/%d}/{a.name}"


def run(tmp_path: Path, **kwargs: Any) -> pc.Run:
    return pc.gather(
        collectors(),
        workdir=tmp_path / "work",
        since=UNTIL - timedelta(days=2),
        until=UNTIL,
        clock=lambda: UNTIL + timedelta(hours=1),
        **kwargs,
    )


def shipped(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.tar.gz"))


class TestNames:
    def test_default_names_are_unchanged(self, tmp_path: Path) -> None:
        """Without a name function archives are <prefix>-<until>-<n>.tar.gz."""
        names = [a.name for a in run(tmp_path, prefix="svc").archives]
        assert names == [f"svc-2026-11-27-170509+0000-{n}.tar.gz" for n in range(3)]
        assert prefixed("svc")(ArchiveInfo(group="g", windows=(), index=1, until=UNTIL)) == names[1]

    def test_name_from_the_first_window(self, tmp_path: Path) -> None:
        """metrics-utility's names: the install, the first collection's window (in the first
        archive the JSON collection packed with the first day, as the old Package saw it), the
        index."""
        names = [a.name for a in run(tmp_path, name=mu_name).archives]
        assert names == [
            "u-1-2026-11-25-170509+0000-2026-11-27-170509+0000-0.tar.gz",
            "u-1-2026-11-26-000000+0000-2026-11-27-000000+0000-1.tar.gz",
            "u-1-2026-11-27-000000+0000-2026-11-27-170509+0000-2.tar.gz",
        ]

    def test_galaxy_minute_stamp(self, tmp_path: Path) -> None:
        """galaxy_ng's %Y-%m-%d-%H%M names in one line."""

        def galaxy(a: ArchiveInfo) -> str:
            return f"galaxy-hub-analytics-{a.until:%Y-%m-%d-%H%M}-{a.index}.tar.gz"

        assert run(tmp_path, name=galaxy).archives[0].name == (
            "galaxy-hub-analytics-2026-11-27-1705-0.tar.gz"
        )

    def test_name_with_a_slash_is_refused_before_collecting(self, tmp_path: Path) -> None:
        """A name function giving a path is refused before anything runs, naming it."""
        with pytest.raises(pc.ConfigurationError, match="name function gave"):
            run(tmp_path, name=lambda a: f"../{a.index}.tar.gz")
        assert not (tmp_path / "work").exists() or not list((tmp_path / "work").iterdir())

    def test_name_function_that_raises_is_refused(self, tmp_path: Path) -> None:
        """A name function that fails on its first try is a configuration error."""
        with pytest.raises(pc.ConfigurationError, match="raised KeyError"):
            run(tmp_path, name=missing)

    def test_name_ignoring_the_index_never_overwrites(self, tmp_path: Path) -> None:
        """A name that does not change with the index stops at an existing file instead of
        overwriting it."""
        (tmp_path / "work").mkdir()
        (tmp_path / "work" / "fixed.tar.gz").write_bytes(b"earlier")
        with pytest.raises(pc.ConfigurationError, match="depend on the index"):
            run(tmp_path, name=lambda a: "fixed.tar.gz")
        assert (tmp_path / "work" / "fixed.tar.gz").read_bytes() == b"earlier"


class TestDirectoryLayout:
    def test_default_layout_is_the_shipping_day(self, tmp_path: Path) -> None:
        """By default archives land in data/YYYY/MM/DD of the day they are shipped."""
        transport = pc.DirectoryTransport(tmp_path / "ship", clock=lambda: SHIPPED)
        result = run(tmp_path, mode="manual", state=MemoryStore(), transport=transport)
        assert result.status == "ok"
        assert {p.rsplit("/", 1)[0] for p in shipped(tmp_path / "ship")} == {"data/2026/12/01"}

    def test_per_day_folders_of_the_first_window(self, tmp_path: Path) -> None:
        """metrics-utility's layout: one folder per day of the archive's first window."""
        transport = pc.DirectoryTransport(tmp_path / "ship", layout=per_day, clock=lambda: SHIPPED)
        result = run(
            tmp_path, mode="manual", state=MemoryStore(), transport=transport, name=mu_name
        )
        assert result.status == "ok"
        assert shipped(tmp_path / "ship") == [
            "data/2026/11/25/u-1-2026-11-25-170509+0000-2026-11-27-170509+0000-0.tar.gz",
            "data/2026/11/26/u-1-2026-11-26-000000+0000-2026-11-27-000000+0000-1.tar.gz",
            "data/2026/11/27/u-1-2026-11-27-000000+0000-2026-11-27-170509+0000-2.tar.gz",
        ]

    @pytest.mark.parametrize(
        "layout",
        [
            lambda a: f"../outside/{a.name}",
            lambda a: f"/tmp/{a.name}",
            lambda a: f"data//{a.name}",
            lambda a: f"data/.hidden/{a.name}",
            lambda a: 42,
        ],
    )
    def test_paths_leaving_the_root_are_refused(self, tmp_path: Path, layout: Any) -> None:
        """A layout that would leave the root, or is not a path, fails the shipment, not the
        run; nothing is written outside the root and nothing counts as delivered."""
        transport = pc.DirectoryTransport(tmp_path / "ship", layout=layout)
        store = MemoryStore()
        result = run(tmp_path, mode="manual", state=store, transport=transport)
        assert result.status == "partial"
        assert all(not s.ok and not s.maybe_delivered for s in result.shipments)
        assert "layout gave" in (result.shipments[0].error or "")
        assert not (tmp_path / "outside").exists()
        assert store.load().entries == {}

    def test_layout_that_raises_fails_the_shipment(self, tmp_path: Path) -> None:
        """A layout raising an error refuses the archive and says which layout failed."""
        transport = pc.DirectoryTransport(tmp_path / "ship", layout=missing)
        result = run(tmp_path, mode="manual", state=MemoryStore(), transport=transport)
        assert "the directory layout raised KeyError" in (result.shipments[0].error or "")

    def test_layout_must_be_callable(self, tmp_path: Path) -> None:
        """A layout that is not a function is refused when the transport is made."""
        with pytest.raises(pc.ConfigurationError, match="layout"):
            pc.DirectoryTransport(tmp_path, layout="data/{name}")  # type: ignore[arg-type]

    def test_by_ship_date_uses_utc(self) -> None:
        """The default layout takes the UTC day of shipping."""
        late = datetime(2026, 12, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
        info = ArchiveInfo(
            group="g", windows=(), index=0, until=UNTIL, name="a.tar.gz", shipped_at=late
        )
        assert by_ship_date(info) == "data/2026/12/02/a.tar.gz"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


class TestS3Layout:
    def test_keys_follow_the_layout_under_the_prefix(
        self, tmp_path: Path, moto_endpoint: str
    ) -> None:
        """S3 keys are the prefix, then the layout's path (per-day folders here)."""
        client = boto3.client(
            "s3",
            endpoint_url=moto_endpoint,
            region_name="us-east-1",
            aws_access_key_id="AKIAEXAMPLE",
            aws_secret_access_key="secret",
        )
        client.create_bucket(Bucket="billing")
        transport = pc.S3Transport(
            bucket="billing", prefix="ship/path", client=client, layout=per_day
        )
        result = run(
            tmp_path, mode="manual", state=MemoryStore(), transport=transport, name=mu_name
        )
        assert result.status == "ok", result.reason
        keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket="billing")["Contents"])
        assert keys[0] == (
            "ship/path/data/2026/11/25/u-1-2026-11-25-170509+0000-2026-11-27-170509+0000-0.tar.gz"
        )
        assert len(keys) == 3

    def test_default_key_is_the_name(self, tmp_path: Path) -> None:
        """Without a layout the key is the prefix and the archive's name, as before."""
        archive = run(tmp_path).archives[0]
        assert pc.S3Transport(bucket="billing", prefix="p").key_for(archive) == f"p/{archive.name}"


class TestAmendConfig:
    def test_every_archive_carries_the_amended_config(self, tmp_path: Path) -> None:
        """The hook's run-time values are in config.json of every archive alike."""
        params = {"billing_provider": "aws", "ship_path": "/srv/billing"}
        result = run(tmp_path, amend_config=lambda doc: {**doc, "billing_provider_params": params})
        assert len(result.archives) == 3
        for archive in result.archives:
            with tarfile.open(archive.path) as tar:
                member = tar.extractfile("./config.json")
                assert member is not None
                assert json.loads(member.read()) == {
                    "install_uuid": "u-1",
                    "billing_provider_params": params,
                }

    @pytest.mark.parametrize(
        ("hook", "message"),
        [
            (lambda doc: None, "amend_config returned NoneType"),
            (lambda doc: doc["missing"], "amend_config raised KeyError"),
            (lambda doc: {**doc, "x": float("nan")}, "not strict JSON"),
        ],
    )
    def test_a_failing_hook_fails_the_run_and_ships_nothing(
        self, tmp_path: Path, hook: Any, message: str
    ) -> None:
        """A hook that returns no document, raises, or adds what JSON cannot hold fails the run
        before any archive is written, and the reason says so."""
        transport = FakeTransport()
        result = run(
            tmp_path, mode="manual", state=MemoryStore(), transport=transport, amend_config=hook
        )
        assert result.status == "failed"
        assert result.reason is not None and message in result.reason
        assert result.archives == () and transport.sent == []

    def test_hook_must_be_callable(self, tmp_path: Path) -> None:
        """amend_config that is not a function is refused before anything runs."""
        with pytest.raises(pc.ConfigurationError, match="amend_config"):
            run(tmp_path, amend_config={"billing_provider_params": {}})
