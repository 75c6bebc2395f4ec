"""Whether a delivery is already taken care of, whoever launched it (CLI, sensor, batch).

The sensor and the daily batch are two triggers for the same deliveries, and Dagster dedups
run keys per trigger only. So both ask the instance: a delivery whose exact manifest (by
digest) was materialized, or whose run is queued or in flight, is not launched again.
"""

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter

from prism.intake.inbox import Delivery
from prism_assets.tags import MANIFEST_SHA256

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


def pending_run_for(instance: DagsterInstance, delivery: Delivery) -> str | None:
    """The id of a queued or in-flight run of this exact manifest, if there is one."""
    runs = instance.get_run_records(
        RunsFilter(tags={MANIFEST_SHA256: delivery.digest}, statuses=PENDING_RUN_STATUSES), limit=1)
    return runs[0].dagster_run.run_id if runs else None


def delivery_in_hand(instance: DagsterInstance, delivery: Delivery) -> str | None:
    """Why this delivery needs no new run (already processed, or a run of it pending), else None."""
    if delivery_already_processed(instance, delivery):
        return "already processed"
    run_id = pending_run_for(instance, delivery)
    return f"run {run_id[:8]} queued or in progress" if run_id else None
