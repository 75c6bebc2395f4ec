"""The delivery sensor: each new manifest in the inbox becomes a title partition and a run.

Cheap: a tick lists the inbox's day prefixes (one call) and then only the days
inside the look-back window before the newest one, so its cost does not grow with
the inbox's history. The cursor holds a high-water mark of modification times plus
the manifests seen inside the look-back window, so each manifest is read once even
when files land out of order. Idempotent: the run key is the title id plus the
manifest digest, so the same delivery launches once, and a corrected
re-delivery launches again; a delivery already processed (e.g. by ``prism run``), or
whose run is queued or in flight (e.g. from the daily batch), is not run twice. A
malformed manifest is logged and reported as the tick's skip reason; it never stops
the other deliveries.
"""


import json
import math
from dataclasses import dataclass, field
from datetime import date, timedelta

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from prism.ids import InvalidTitleId
from prism.intake.manifest import ManifestError
from prism.settings import get_settings
from prism_assets.jobs import process_title_job
from prism_assets.partitions import titles
from prism_assets.processed import delivery_in_hand
from prism_assets.tags import delivery_tags
from resources import DeliveryInbox


@dataclass
class InboxCursor:
    high_water: float = 0.0
    seen: dict[str, float] = field(default_factory=dict)  # manifest key -> mtime when read
    newest_day: str | None = None  # the newest day prefix in the inbox at the last tick

    @classmethod
    def parse(cls, raw: str | None) -> "InboxCursor":
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(float(data.get("high_water", 0.0)),
                       {str(k): float(v) for k, v in data.get("seen", {}).items()},
                       data.get("newest_day"))
        except (ValueError, TypeError, AttributeError):
            return cls()  # an unreadable cursor re-reads the window; run keys prevent duplicates

    def dump(self) -> str:
        return json.dumps({"high_water": self.high_water, "seen": self.seen,
                           "newest_day": self.newest_day}, sort_keys=True)


def days_to_list(days: list[date], newest_seen: str | None, lookback_s: float) -> list[date]:
    """The day prefixes a tick reads: from the look-back window before the newest day on.

    The window is anchored on the inbox's own newest day prefix (the one the upstream is
    writing to now), not on this machine's clock, and reaches back the look-back plus a
    day of slack for deliveries near midnight. A first tick, with nothing known, reads all.
    """
    if not days:
        return []
    if newest_seen is None:
        return days
    anchor = max(days[-1], date.fromisoformat(newest_seen))
    first = anchor - timedelta(days=math.ceil(lookback_s / 86400) + 1)
    return [d for d in days if d >= first]


@sensor(
    job=process_title_job,
    minimum_interval_seconds=get_settings().sensor_interval_s,
    default_status=DefaultSensorStatus.RUNNING,
    description="Turns each new delivery manifest in the inbox into a title partition and a run.",
)
def delivery_sensor(context: SensorEvaluationContext, inbox: DeliveryInbox) -> SensorResult:
    lookback_s = inbox.lookback_hours * 3600
    cursor = InboxCursor.parse(context.cursor)
    box = inbox.inbox()
    window_start = cursor.high_water - lookback_s
    days = box.list_days()
    entries = box.list_manifests(modified_after=window_start,
                                 days=days_to_list(days, cursor.newest_day, lookback_s))
    if days:
        cursor.newest_day = days[-1].isoformat()

    run_requests: list[RunRequest] = []
    new_titles: list[str] = []
    known = set(context.instance.get_dynamic_partitions(titles.name))
    rejected: list[str] = []
    already_done: list[str] = []
    for entry in entries:
        if cursor.seen.get(entry.key) == entry.modified:
            continue
        try:
            found = box.load(entry)
        except (ManifestError, InvalidTitleId) as exc:
            rejected.append(f"{entry.key}: {exc}")
            context.log.warning(f"rejected delivery manifest {entry.key}: {exc}")
        except OSError as exc:  # storage trouble: leave unseen, retry next tick
            context.log.error(f"could not read {entry.key}, will retry: {exc}")
            continue
        else:
            if reason := delivery_in_hand(context.instance, found):
                already_done.append(found.key)
                context.log.info(f"{found.key}: title {found.title_id} {reason}")
            else:
                run_requests.append(RunRequest(
                    partition_key=found.title_id,
                    run_key=found.run_key(),
                    tags=delivery_tags(found, trigger="sensor"),
                ))
                if found.title_id not in known:
                    known.add(found.title_id)
                    new_titles.append(found.title_id)
        cursor.seen[entry.key] = entry.modified
        cursor.high_water = max(cursor.high_water, entry.modified)

    cursor.seen = {k: v for k, v in cursor.seen.items() if v > cursor.high_water - lookback_s}
    skip_reason = None
    if not run_requests:
        reasons = []
        if rejected:
            reasons.append(f"{len(rejected)} manifest(s) rejected: " + " | ".join(rejected))
        if already_done:
            reasons.append(f"{len(already_done)} delivery(ies) already processed or in progress")
        skip_reason = "; ".join(reasons) or "no new deliveries"
    elif rejected:
        context.log.warning(f"{len(rejected)} manifest(s) rejected this tick")
    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[titles.build_add_request(new_titles)] if new_titles else [],
        cursor=cursor.dump(),
        skip_reason=skip_reason,
    )
