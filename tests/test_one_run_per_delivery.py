"""One run per delivery, whichever trigger sees it first: a real dagster-daemon's sensor queues a
delivery's run, and the daily batch (evaluated the daemon's way) and later sensor ticks launch
nothing more for it while it waits in the queue. And the other way round: a batch run not yet
finished keeps the sensor from launching the same manifest."""

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import DagsterRunStatus, RunsFilter
from helpers import deliver
from services import _reset_signals, stop
from test_schedule import evaluate as evaluate_schedule
from test_sensor import tick as sensor_tick

from prism_assets.definitions import build_definitions
from prism_assets.tags import MANIFEST_SHA256, TRIGGER, delivery_tags

REPO = Path(__file__).resolve().parent.parent


def runs_of(instance, digest: str):
    return instance.get_runs(RunsFilter(tags={MANIFEST_SHA256: digest}))


@pytest.fixture
def daemon_with_held_queue(prism_home, instance, tmp_path):
    """A real dagster-daemon on the workspace whose run queue launches nothing, so a run it
    queues stays queued (the state a title is in at 02:00 when many are waiting). The test's
    instance (``instance``) creates the SQLite storage first: two processes creating one fresh
    storage at once can both stamp its schema version."""
    dagster_home = prism_home.home / "dagster"
    (dagster_home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 0\n")
    env = {**os.environ, "PRISM_HOME": str(prism_home.home), "DAGSTER_HOME": str(dagster_home),
           "PRISM_SENSOR_INTERVAL_S": "1"}
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen([sys.executable, "-m", "dagster._daemon", "run",
                             "-w", str(REPO / "workspace.yaml")],
                            cwd=REPO, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_reset_signals)
    yield proc, log
    stop(proc, timeout=60)


@pytest.mark.services
def test_a_delivery_queued_by_the_sensor_is_not_launched_again_by_the_batch(
        daemon_with_held_queue, prism_home, instance, media):
    proc, log = daemon_with_held_queue
    found = deliver(prism_home, media["clip"], "queued-1", delivered_at="2026-11-23T10:00:00Z")

    deadline = time.monotonic() + 300  # the daemon creates the run, then submits it to the queue
    while (not (runs := runs_of(instance, found.digest)) or runs[0].status != DagsterRunStatus.QUEUED) \
            and time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(1)
    runs = runs_of(instance, found.digest)
    assert len(runs) == 1, log.read_text()[-3000:]
    assert runs[0].status == DagsterRunStatus.QUEUED and runs[0].tags[TRIGGER] == "sensor"

    # 02:00 the next day: the batch sees the delivery but its run is waiting in the queue.
    data = evaluate_schedule(instance, prism_home, datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    assert not data.run_requests
    assert "no unprocessed deliveries for 2026-11-23 (1 delivered)" in data.skip_message

    # More sensor ticks of the real daemon launch nothing more either.
    time.sleep(5)
    assert len(runs_of(instance, found.digest)) == 1


def test_a_batch_run_not_finished_keeps_the_sensor_from_launching_the_delivery(instance, prism_home, media):
    found = deliver(prism_home, media["clip"], "batch-1", delivered_at="2026-11-23T10:00:00Z")
    job = build_definitions(prism_home).get_job_def("process_title")
    instance.add_dynamic_partitions("titles", ["batch-1"])
    # Created by the daemon for the batch and not launched yet (a queued run needs a code location).
    instance.create_run_for_job(job, status=DagsterRunStatus.NOT_STARTED,
                                tags={**delivery_tags(found, trigger="schedule"),
                                      "dagster/partition": "batch-1"})

    data = sensor_tick(instance, prism_home)
    assert data.run_requests == []
    assert data.skip_message == "1 delivery(ies) already processed or in progress"

    # Once that run is over without materializing (cancelled), the delivery is due again.
    run = runs_of(instance, found.digest)[0]
    instance.report_run_canceled(run)
    again = sensor_tick(instance, prism_home)
    assert [r.partition_key for r in again.run_requests] == ["batch-1"]
