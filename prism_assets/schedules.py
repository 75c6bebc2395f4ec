"""The daily batch: at 02:00 UTC, process every title delivered the previous (UTC) day.

The sensor normally handles a delivery as soon as it lands; the batch is the
guarantee. A delivery whose exact manifest was already materialized (same
digest), or whose run is queued or in flight (e.g. from the sensor), is not run again.
"""


from datetime import UTC, date, timedelta

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from prism.ids import InvalidTitleId
from prism.intake.inbox import Delivery, Inbox
from prism.intake.manifest import ManifestError
from prism_assets.jobs import process_title_job
from prism_assets.partitions import titles
from prism_assets.processed import delivery_in_hand
from prism_assets.tags import delivery_tags
from resources import DeliveryInbox


def deliveries_of_day(box: Inbox, day: date, log=None) -> list[Delivery]:
    """The newest valid delivery of each title delivered on ``day`` (UTC).

    Only that day's prefix is listed, and the next day's: an upstream clock a little
    ahead may file a manifest of the day's last minutes under the next day.
    """
    latest: dict[str, Delivery] = {}
    for entry in box.list_manifests(days=[day, day + timedelta(days=1)]):
        try:
            found = box.load(entry)
        except (ManifestError, InvalidTitleId) as exc:
            if log:
                log.warning(f"skipping rejected manifest {entry.key}: {exc}")
            continue
        if found.manifest.delivery_date != day:
            continue
        current = latest.get(found.title_id)
        if current is None or found.manifest.delivered_at >= current.manifest.delivered_at:
            latest[found.title_id] = found
    return [latest[k] for k in sorted(latest)]


@schedule(
    job=process_title_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Processes the previous UTC day's delivery batch (skips deliveries done or in flight).",
)
def daily_delivery_batch(context: ScheduleEvaluationContext, inbox: DeliveryInbox):
    day = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).date()
    batch = deliveries_of_day(inbox.inbox(), day, context.log)
    todo = [d for d in batch if not delivery_in_hand(context.instance, d)]
    if not todo:
        return SkipReason(f"no unprocessed deliveries for {day} ({len(batch)} delivered)")
    known = set(context.instance.get_dynamic_partitions(titles.name))
    missing = [d.title_id for d in todo if d.title_id not in known]
    if missing:
        # Schedules cannot return partition requests; add them before the run requests.
        context.instance.add_dynamic_partitions(titles.name, missing)
    return [
        RunRequest(
            partition_key=d.title_id,
            run_key=f"batch:{day.isoformat()}:{d.run_key()}",
            tags=delivery_tags(d, trigger="schedule"),
        )
        for d in todo
    ]
