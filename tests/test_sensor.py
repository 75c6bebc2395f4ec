"""The delivery sensor, evaluated the way the daemon does (persistent instance, evaluate_tick)."""

import json
import os
import time
from datetime import date, timedelta

from dagster import build_sensor_context
from helpers import deliver, drop_raw_manifest, inbox_of

from prism_assets.definitions import build_definitions
from prism_assets.resources import build_resources
from prism_assets.sensors import InboxCursor, days_to_list, delivery_sensor
from prism_assets.tags import DELIVERY_DATE, MANIFEST_KEY, TRIGGER


def tick(instance, settings, cursor=None):
    defs = build_definitions(settings)
    with build_sensor_context(instance=instance, instance_ref=instance.get_ref(),
                              definitions=defs, cursor=cursor,
                              resources=build_resources(settings)) as context:  # closed as the daemon does
        data = delivery_sensor.evaluate_tick(context)
    # Apply partition requests as the daemon does.
    for request in data.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return data


def test_new_deliveries_become_partitions_and_runs(instance, prism_home, media):
    deliver(prism_home, media["clip"], "ep-1")
    deliver(prism_home, media["no_audio"], "ep-2", delivered_at="2026-11-23T11:00:00Z")
    data = tick(instance, prism_home)

    assert sorted(r.partition_key for r in data.run_requests) == ["ep-1", "ep-2"]
    assert [list(r.partition_keys) for r in data.dynamic_partitions_requests] == [["ep-1", "ep-2"]]
    assert sorted(instance.get_dynamic_partitions("titles")) == ["ep-1", "ep-2"]
    request = next(r for r in data.run_requests if r.partition_key == "ep-1")
    assert request.tags[MANIFEST_KEY] == "2026-11-23/ep-1.json"
    assert request.tags[DELIVERY_DATE] == "2026-11-23" and request.tags[TRIGGER] == "sensor"
    assert request.run_key.startswith("ep-1:")

    # Next tick: nothing new, nothing re-read, a visible skip reason.
    again = tick(instance, prism_home, data.cursor)
    assert again.run_requests == [] and again.skip_message == "no new deliveries"
    assert not again.dynamic_partitions_requests


def test_same_delivery_has_the_same_run_key_so_it_launches_once(instance, prism_home, media):
    deliver(prism_home, media["clip"], "ep-1")
    first = tick(instance, prism_home)
    # A lost cursor re-reads the window, but the run keys are identical: the daemon dedups.
    replay = tick(instance, prism_home, cursor=None)
    assert [r.run_key for r in replay.run_requests] == [r.run_key for r in first.run_requests]
    # The partition exists already: no second add request.
    assert not replay.dynamic_partitions_requests


def test_redelivery_with_changed_manifest_runs_again(instance, prism_home, media):
    deliver(prism_home, media["clip"], "ep-1")
    first = tick(instance, prism_home)
    time.sleep(0.01)
    deliver(prism_home, media["clip"], "ep-1", title_name="Pilot (fixed metadata)")
    second = tick(instance, prism_home, first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["ep-1"]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key


def test_malformed_manifests_are_reported_and_never_block_others(instance, prism_home, media):
    drop_raw_manifest(prism_home, "2026-11-23/broken.json", b"{ this is not json")
    drop_raw_manifest(prism_home, "2026-11-23/evil.json", json.dumps(
        {"title_id": "../../etc", "media_uri": "x.mp4", "delivered_at": "2026-11-23"}).encode())
    drop_raw_manifest(prism_home, "2026-11-23/escape.json", json.dumps(
        {"title_id": "ok-id", "media_uri": "/etc/passwd", "delivered_at": "2026-11-23"}).encode())
    deliver(prism_home, media["clip"], "good-1")

    data = tick(instance, prism_home)
    assert [r.partition_key for r in data.run_requests] == ["good-1"]
    assert instance.get_dynamic_partitions("titles") == ["good-1"]

    # With nothing valid in a tick, the rejections are the visible skip reason.
    drop_raw_manifest(prism_home, "2026-11-24/bad.json", b"[]")
    only_bad = tick(instance, prism_home, data.cursor)
    assert only_bad.run_requests == []
    assert "1 manifest(s) rejected" in only_bad.skip_message
    assert "2026-11-24/bad.json: manifest must be a JSON object" in only_bad.skip_message


def test_late_file_with_old_mtime_is_still_seen(instance, prism_home, media):
    deliver(prism_home, media["clip"], "ep-1")
    first = tick(instance, prism_home)
    # A manifest moved in with an mtime older than the high-water mark (mv keeps mtimes).
    found = deliver(prism_home, media["no_audio"], "ep-2")
    path = os.path.join(prism_home.inbox, found.key)
    old = InboxCursor.parse(first.cursor).high_water - 600
    os.utime(path, (old, old))
    second = tick(instance, prism_home, first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["ep-2"]


def test_cursor_garbage_is_survivable():
    assert InboxCursor.parse("{not json").high_water == 0.0
    assert InboxCursor.parse(None).seen == {}


def test_delivery_already_processed_by_the_cli_is_not_run_again(instance, prism_home, media):
    from prism_assets.runner import run_title

    deliver(prism_home, media["clip"], "ep-1")
    assert run_title("ep-1", instance, settings=prism_home).success
    data = tick(instance, prism_home)
    assert data.run_requests == []
    assert data.skip_message == "1 delivery(ies) already processed or in progress"
    # A corrected re-delivery of the same title is new work again.
    time.sleep(0.01)
    deliver(prism_home, media["clip"], "ep-1", title_name="Pilot v2")
    assert [r.partition_key for r in tick(instance, prism_home, data.cursor).run_requests] == ["ep-1"]


def test_a_tick_reads_only_the_days_inside_its_look_back(instance, prism_home, media):
    # A year of history: one delivery a day from 2025-11-24 on, and a bad manifest long ago.
    for n in range(0, 365, 30):
        day = date(2025, 11, 24) + timedelta(days=n)
        drop_raw_manifest(prism_home, f"{day.isoformat()}/old-{n}.json", b"[]")
    deliver(prism_home, media["clip"], "today-1", delivered_at="2026-11-23T10:00:00Z")
    first = tick(instance, prism_home)  # the first tick knows nothing yet: it reads everything
    assert [r.partition_key for r in first.run_requests] == ["today-1"]
    assert InboxCursor.parse(first.cursor).newest_day == "2026-11-23"

    # New files land both in an old day (outside the 24 h window) and in today's.
    drop_raw_manifest(prism_home, "2025-12-24/late-bad.json", b"[]")
    drop_raw_manifest(prism_home, "2026-11-23/today-bad.json", b"[]")
    second = tick(instance, prism_home, first.cursor)
    assert "2026-11-23/today-bad.json" in second.skip_message
    assert "2025-12-24" not in second.skip_message  # never listed
    assert len(inbox_of(prism_home).list_days()) == 14


def test_window_follows_the_newest_day_and_reads_all_at_first():
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(300)]
    assert days_to_list(days, None, 24 * 3600) == days
    assert days_to_list(days, days[-1].isoformat(), 24 * 3600) == days[-3:]
    assert days_to_list(days, days[-1].isoformat(), 72 * 3600) == days[-5:]
    assert days_to_list([], "2026-01-01", 3600) == []
