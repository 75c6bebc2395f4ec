"""The daily batch schedule picks exactly the previous UTC day's deliveries."""

from datetime import UTC, datetime

from dagster import build_schedule_context
from helpers import deliver, drop_raw_manifest

from prism_assets.definitions import build_definitions
from prism_assets.resources import build_resources
from prism_assets.runner import run_title
from prism_assets.schedules import daily_delivery_batch
from prism_assets.tags import TRIGGER


def evaluate(instance, settings, when: datetime):
    defs = build_definitions(settings)
    # Closed like the daemon closes it: an open context keeps the instance it entered registered
    # as Dagster's current defs-state storage after that instance is gone (later loads fail).
    with build_schedule_context(instance=instance, scheduled_execution_time=when,
                                repository_def=defs.get_repository_def(),
                                resources=build_resources(settings)) as context:
        return daily_delivery_batch.evaluate_tick(context)


def test_schedule_picks_exactly_the_previous_days_deliveries(instance, prism_home, media):
    deliver(prism_home, media["clip"], "mon-1", delivered_at="2026-11-23T00:00:00Z")
    deliver(prism_home, media["clip"], "mon-2", delivered_at="2026-11-23T23:59:59Z")
    deliver(prism_home, media["clip"], "sun-1", delivered_at="2026-11-22T23:59:59Z")
    deliver(prism_home, media["clip"], "tue-1", delivered_at="2026-11-24T00:00:00Z")
    # Late evening in Seoul on the 24th is still the 23rd in UTC.
    deliver(prism_home, media["clip"], "mon-kst", delivered_at="2026-11-24T08:00:00+09:00")
    drop_raw_manifest(prism_home, "2026-11-23/junk.json", b"not a manifest")

    data = evaluate(instance, prism_home, datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    assert sorted(r.partition_key for r in data.run_requests) == ["mon-1", "mon-2", "mon-kst"]
    assert all(r.tags[TRIGGER] == "schedule" for r in data.run_requests)
    assert all(r.run_key.startswith("batch:2026-11-23:") for r in data.run_requests)
    # Schedules cannot return partition requests: the partitions were added directly.
    assert {"mon-1", "mon-2", "mon-kst"} <= set(instance.get_dynamic_partitions("titles"))


def test_schedule_skips_days_without_deliveries(instance, prism_home, media):
    deliver(prism_home, media["clip"], "x", delivered_at="2026-11-20T10:00:00Z")
    data = evaluate(instance, prism_home, datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    assert not data.run_requests
    assert "no unprocessed deliveries for 2026-11-23" in data.skip_message


def test_schedule_skips_deliveries_already_processed(instance, prism_home, media):
    deliver(prism_home, media["clip"], "done-1", delivered_at="2026-11-23T09:00:00Z")
    deliver(prism_home, media["clip"], "todo-1", delivered_at="2026-11-23T10:00:00Z")
    assert run_title("done-1", instance, settings=prism_home).success
    data = evaluate(instance, prism_home, datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    assert [r.partition_key for r in data.run_requests] == ["todo-1"]
