"""A shortened week of deliveries (scripts/week_of_deliveries.py): two simulated days through the real
sensor of a real dagster-daemon and the daily batch, runs queued but not executed. Every good
delivery gets exactly one run, the duplicate none, the malformed manifests are reported."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.services
def test_two_days_of_deliveries_launch_one_run_each(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "week_of_deliveries.py"), "--days", "2",
                           "--hold-queue", "--home", str(tmp_path / "home")],
                          capture_output=True, text=True, timeout=540)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "OK: one run per delivery" in out
    assert "4 good deliveries, 4 runs launched, 0 batch requests" in out
    assert "duplicates sent: 1, extra runs for them: 0" in out
    assert "malformed manifests: 2, reported by the sensor: 2" in out
    # The per-day table: day, good deliveries, runs, batch requests, materialized (not with the queue
    # held), duplicates sent, runs for them, malformed manifests, reported.
    assert out.split("\ntotal")[1].split()[:8] == ["4", "4", "0", "-", "1", "0", "2", "2"]
