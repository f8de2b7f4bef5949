"""Runs killed with SIGKILL at random points: the next run completes, the
state file is always whole, no window is skipped, and only the archive in
flight at the kill can arrive twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from support import reliability  # noqa: E402
from support.reliability import START, Source  # noqa: E402


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> reliability.CrashCampaign:
    return reliability.crash_campaign(
        tmp_path_factory.mktemp("crash"), seed=reliability.CRASH_SEED, kills=20
    )


class TestKilledRuns:
    """Twenty and more gather processes killed with SIGKILL, each followed by a run."""

    def test_runs_were_killed_all_over(self, campaign: reliability.CrashCampaign) -> None:
        """At least twenty runs died, at many different stages of a run."""
        killed = [t for t in campaign.trials if t.killed]
        assert len(killed) >= 20
        stages = {t.phase for t in killed}
        assert {"collector.called", "collection.done", "ship.accepted", "state.saved"} <= stages
        assert len(stages) >= 6

    def test_state_file_is_always_whole(self, campaign: reliability.CrashCampaign) -> None:
        """After every kill the state file is valid JSON that the store loads."""
        assert {t.state for t in campaign.trials} == {"valid JSON"}

    def test_next_run_completes(self, campaign: reliability.CrashCampaign) -> None:
        """The run after a kill comes out ok."""
        assert [t.next_report["status"] for t in campaign.trials] == ["ok"] * len(campaign.trials)
        assert all(not t.next_report["failed"] for t in campaign.trials)

    def test_no_window_is_skipped(self, campaign: reliability.CrashCampaign) -> None:
        """Every row of the source is in some archive the destination holds."""
        assert set(campaign.received) == campaign.source
        assert campaign.source

    def test_duplicates_only_for_the_archive_in_flight(
        self, campaign: reliability.CrashCampaign
    ) -> None:
        """Per killed run, at most one archive it delivered arrives again later."""
        resent = campaign.resent()
        assert all(len(paths) <= 1 for paths in resent.values()), resent
        assert any(resent.values()), "no kill landed between a delivery and its state save"
        again = {p for paths in resent.values() for p in paths}
        by_archive = campaign.rows_by_archive()
        repeated = {row for row, n in campaign.received.items() if n > 1}
        assert repeated <= {row for p in again for row in by_archive[p]}

    def test_figures_are_reported(
        self, campaign: reliability.CrashCampaign, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The figures add up, and are printed with the test output."""
        figures = campaign.figures()
        assert figures["rows lost"] == 0
        assert figures["rows delivered"] == figures["source rows"] + figures["duplicate rows"]
        with capsys.disabled():
            print(f"\nSIGKILL trials, seed {campaign.seed}:\n{reliability.table(figures)}")


class TestSameWorkFolder:
    """Services pass a fixed work folder: a killed run must not block the next ones."""

    def test_run_after_kill_while_collecting_completes(self, tmp_path: Path) -> None:
        """A run killed inside a collector leaves nothing that stops the next run."""
        source = Source(tmp_path / "source.db", seed=3)
        source.grow(START - timedelta(days=1), START, 20)
        env = reliability.worker_env(tmp_path)
        workdir = tmp_path / "work"

        def command(now_hours: int, delay: float) -> list[str]:
            return reliability.worker_command(
                source=source,
                tmp=tmp_path,
                now=START + timedelta(hours=now_hours),
                delay=delay,
                workdir=workdir,
            )

        assert reliability.run_worker(command(0, 0), env)["status"] == "ok"
        source.grow(START, START + timedelta(hours=1), 10)
        killed, phase, _ = reliability.kill_worker(
            command(1, 30.0), env, after=1, wait=0.2, event="collector.called"
        )
        assert killed and phase == "collector.called"
        report = reliability.run_worker(command(2, 0), env)
        assert report["status"] == "ok"
