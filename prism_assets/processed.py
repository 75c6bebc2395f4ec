"""Whether a delivery is already taken care of, whoever launched it (CLI, sensor, batch).

The sensor and the daily batch are two triggers for the same deliveries, and Dagster dedups
run keys per trigger only. So both ask the instance: a delivery whose exact manifest (by
digest) was materialized, or whose run is queued or in flight, is not launched again.
"""

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

from prism.intake.inbox import Delivery
from prism.liveness import is_dead
from prism_assets.tags import MANIFEST_SHA256, WORKER

# A run in one of these will still materialize the delivery; a cancelling one will not.
PENDING_RUN_STATUSES = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED,
                        DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


def delivery_already_processed(instance: DagsterInstance, delivery: Delivery) -> bool:
    """True when the title's latest `delivery` materialization came from this exact manifest."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("delivery"), asset_partitions=[delivery.title_id]),
        limit=1,
    ).records
    if not records:
        return False
    digest = records[0].asset_materialization.metadata.get("manifest_sha256")
    return digest is not None and digest.value == delivery.digest


def dead_worker(run: DagsterRun) -> str | None:
    """Why the run's worker process is known to be gone, or None (alive, or not known here)."""
    worker = run.tags.get(WORKER)
    if worker and is_dead(worker):
        return (f"the process running this run ({worker}) is gone (killed or crashed) without "
                "reporting an end; marked failed")
    return None


def fail_dead_runs(instance: DagsterInstance, tags: dict[str, str]) -> list[str]:
    """Mark failed the runs (with these tags) still recorded as in flight whose process is gone.

    A run executed by Prism's executor (``prism run``, and locally the daemon's and the UI's
    runs) carries its worker process in the ``prism/worker`` tag; killed (kill -9, OOM), it
    never reports its end and would stay STARTED for ever, holding its delivery as "in
    progress". The run monitoring daemon does the same for daemon-launched runs
    (prism_assets.launcher); this catches them when no daemon runs. Runs in ECS tasks carry no
    such tag and are left to the ECS launcher's run monitoring.
    """
    failed = []
    for record in instance.get_run_records(
            RunsFilter(tags=tags, statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED])):
        run = record.dagster_run
        if reason := dead_worker(run):
            instance.report_run_failed(run, reason)
            failed.append(run.run_id)
    return failed


def pending_run_for(instance: DagsterInstance, delivery: Delivery) -> str | None:
    """The id of a queued or in-flight run of this exact manifest, if there is one (a run whose
    process died is marked failed first: it is not pending)."""
    fail_dead_runs(instance, {MANIFEST_SHA256: delivery.digest})
    runs = instance.get_run_records(
        RunsFilter(tags={MANIFEST_SHA256: delivery.digest}, statuses=PENDING_RUN_STATUSES), limit=1)
    return runs[0].dagster_run.run_id if runs else None


def delivery_in_hand(instance: DagsterInstance, delivery: Delivery) -> str | None:
    """Why this delivery needs no new run (already processed, or a run of it pending), else None."""
    if delivery_already_processed(instance, delivery):
        return "already processed"
    run_id = pending_run_for(instance, delivery)
    return f"run {run_id[:8]} queued or in progress" if run_id else None
