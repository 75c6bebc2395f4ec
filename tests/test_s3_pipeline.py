"""The same title graph with inbox, media and artifacts on a real S3-compatible server."""

import pytest
from helpers import deliver

from prism.intake.manifest import ManifestError
from prism.settings import Settings
from prism_assets.resources import build_resources
from prism_assets.runner import run_title


def test_title_runs_with_inbox_and_artifacts_on_s3(instance, prism_home, media, s3_bucket,
                                                   monkeypatch):
    monkeypatch.setenv("PRISM_STORAGE_URI", f"s3://{s3_bucket}/artifacts")
    monkeypatch.setenv("PRISM_INBOX_URI", f"s3://{s3_bucket}/inbox")
    settings = Settings()
    found = deliver(settings, media["two_tracks"], "s3-ep-1")
    assert found.media_location == f"s3://{s3_bucket}/inbox/2026-11-23/s3-ep-1/media/two_tracks.mkv"

    outcome = run_title("s3-ep-1", instance, settings=settings)
    assert outcome.success, outcome.failures
    store = build_resources(settings)["storage"].store()
    assert {"delivery.json", "probe.json", "frame_signals.parquet", "shots.parquet", "keyframes.parquet",
            "contact_sheet.jpg", "thumbnails.vtt", "audio.json", "loudness.json", "qc.parquet",
            "report.html"} <= set(store.list_files("s3-ep-1"))
    bundle = build_resources(settings)["export"].target().read_manifest("s3-ep-1")
    assert "report.html" in {f.path for f in bundle.files}
    assert not any(f.path.startswith("audio/") for f in bundle.files)  # no audio bytes leave the account
    probe = store.read_json("s3-ep-1", "probe.json")
    assert [a["language"] for a in probe["audio"]] == ["eng", "kor"]
    assert probe["size_bytes"] == media["two_tracks"].stat().st_size
    # Nothing was written locally: the embedded artifact folder stays empty.
    assert not (prism_home.home / "artifacts").exists()


def test_s3_media_outside_allowed_roots_is_refused(instance, prism_home, media, s3_bucket,
                                                   s3_server, monkeypatch):
    monkeypatch.setenv("PRISM_STORAGE_URI", f"s3://{s3_bucket}/artifacts")
    monkeypatch.setenv("PRISM_INBOX_URI", f"s3://{s3_bucket}/inbox")
    settings = Settings()
    client = s3_server.client()
    client.upload_file(str(media["clip"]), s3_bucket, "elsewhere/clip.mp4")
    client.put_object(Bucket=s3_bucket, Key="inbox/2026-11-23/sneaky.json", Body=(
        b'{"title_id": "sneaky", "media_uri": "s3://%s/elsewhere/clip.mp4",'
        b' "delivered_at": "2026-11-23T10:00:00Z"}' % s3_bucket.encode()))
    inbox = build_resources(settings)["inbox"].inbox()
    assert inbox.latest_for_title("sneaky") is None  # refused, so never offered to a run
    with pytest.raises(ManifestError, match="outside the allowed media roots"):
        inbox.load(inbox.list_manifests()[0])


def test_sensor_reads_an_s3_inbox(instance, prism_home, media, s3_bucket, monkeypatch):
    from dagster import build_sensor_context

    from prism_assets.definitions import build_definitions
    from prism_assets.sensors import delivery_sensor

    monkeypatch.setenv("PRISM_STORAGE_URI", f"s3://{s3_bucket}/artifacts")
    monkeypatch.setenv("PRISM_INBOX_URI", f"s3://{s3_bucket}/inbox")
    settings = Settings()
    deliver(settings, media["clip"], "s3-a")
    deliver(settings, media["no_audio"], "s3-b")

    def tick(cursor):
        with build_sensor_context(
                instance=instance, instance_ref=instance.get_ref(), cursor=cursor,
                definitions=build_definitions(settings), resources=build_resources(settings)) as context:
            return delivery_sensor.evaluate_tick(context)

    first = tick(None)
    assert sorted(r.partition_key for r in first.run_requests) == ["s3-a", "s3-b"]
    assert tick(first.cursor).run_requests == []
