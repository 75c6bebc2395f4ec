import json
import os
from datetime import UTC, datetime

import pytest

from prism.intake.inbox import Inbox
from prism.intake.manifest import ManifestError, parse_manifest, resolve_media_uri

LIMIT = 64 * 1024


def manifest(**overrides) -> bytes:
    doc = {"title_id": "t1", "media_uri": "t1/media/video.mp4",
           "delivered_at": "2026-11-23T08:30:00Z"} | overrides
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


def test_valid_manifest_with_metadata():
    m = parse_manifest(manifest(series="Night Shift", season=1, episode=3, provider="studio-a",
                                audio_languages=["en", "ko", "pt-BR"]), max_bytes=LIMIT)
    assert m.title_id == "t1" and m.episode == 3 and m.audio_languages == ["en", "ko", "pt-BR"]
    assert m.delivered_at == datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
    assert m.delivery_date.isoformat() == "2026-11-23"


def test_naive_and_offset_times_become_utc():
    assert parse_manifest(manifest(delivered_at="2026-11-23T23:30:00"), max_bytes=LIMIT
                          ).delivered_at.tzinfo == UTC
    m = parse_manifest(manifest(delivered_at="2026-11-24T01:30:00+09:00"), max_bytes=LIMIT)
    assert m.delivery_date.isoformat() == "2026-11-23"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "must be a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "over the"),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply|JSON object"),
        (manifest(title_id="../../etc"), "title_id: .*'..'"),
        (manifest(title_id="a/b"), "title_id: .*characters outside"),
        (manifest(title_id=7), "title_id"),
        (manifest(media_uri="../../../etc/passwd"), "media_uri: .*'..'"),
        (manifest(media_uri="file:///srv/in/../../etc/passwd"), "media_uri: .*'..'"),
        (manifest(media_uri="http://evil.example/video.mp4"), "scheme 'http' is not allowed"),
        (manifest(media_uri="ftp://host/video.mp4"), "scheme 'ftp' is not allowed"),
        (manifest(media_uri="javascript:alert(1)"), "scheme 'javascript' is not allowed"),
        (manifest(media_uri="video\x00.mp4"), "control characters"),
        (manifest(media_uri=""), "media_uri"),
        (manifest(delivered_at="yesterday"), "delivered_at"),
        (manifest(audio_languages=["en", "english language!"]), "audio_languages"),
        (manifest(audio_languages=["en"] * 33), "audio_languages"),
        (manifest(episode=-1), "episode"),
        (manifest(media_url="x.mp4"), "media_url: Extra inputs are not permitted"),
        (manifest(schema_version=2), "schema_version"),
        (manifest(series="x" * 300), "series"),
    ],
)
def test_hostile_or_malformed_manifests_refused(data, reason):
    with pytest.raises(ManifestError, match=reason):
        parse_manifest(data, max_bytes=LIMIT)


def test_oversized_manifest_refused_before_parsing(tmp_path):
    big = manifest(title_name="x" * 500) + b" " * (LIMIT + 1)
    with pytest.raises(ManifestError, match="over the 65536-byte limit"):
        parse_manifest(big, max_bytes=LIMIT)
    (tmp_path / "big.json").write_bytes(big)
    inbox = Inbox(str(tmp_path))
    with pytest.raises(ManifestError, match="over the"):
        inbox.load(inbox.list_manifests()[0])


def test_media_resolution_stays_under_allowed_roots(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "2026-11-23" / "t1" / "media").mkdir(parents=True)
    video = inbox / "2026-11-23" / "t1" / "media" / "v.mp4"
    video.write_bytes(b"x")
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"x")
    manifest_path = str(inbox / "2026-11-23" / "t1.json")
    roots = [str(inbox)]

    assert resolve_media_uri("t1/media/v.mp4", manifest_path, roots) == str(video)
    assert resolve_media_uri(f"file://{video}", manifest_path, roots) == str(video)
    with pytest.raises(ManifestError, match="outside the allowed media roots"):
        resolve_media_uri(str(outside), manifest_path, roots)
    with pytest.raises(ManifestError, match="outside the allowed media roots"):
        resolve_media_uri(f"file://{outside}", manifest_path, roots)
    # A symlink inside the inbox that points outside is still outside.
    os.symlink(outside, inbox / "2026-11-23" / "t1" / "media" / "link.mp4")
    with pytest.raises(ManifestError, match="outside the allowed media roots"):
        resolve_media_uri("t1/media/link.mp4", manifest_path, roots)
    # A sibling directory whose name merely starts with the root's name is outside.
    (tmp_path / "inbox-evil").mkdir()
    (tmp_path / "inbox-evil" / "v.mp4").write_bytes(b"x")
    with pytest.raises(ManifestError, match="outside"):
        resolve_media_uri(str(tmp_path / "inbox-evil" / "v.mp4"), manifest_path, roots)
    # Extra media roots are honoured.
    assert resolve_media_uri(str(outside), manifest_path, roots + [str(tmp_path)]) == str(outside)


def test_s3_media_resolution():
    roots = ["s3://media-bucket/inbox"]
    loc = "s3://media-bucket/inbox/2026-11-23/t1.json"
    assert resolve_media_uri("t1/media/v.mp4", loc, roots) == "s3://media-bucket/inbox/2026-11-23/t1/media/v.mp4"
    assert resolve_media_uri("s3://media-bucket/inbox/x.mp4", loc, roots) == "s3://media-bucket/inbox/x.mp4"
    with pytest.raises(ManifestError, match="outside"):
        resolve_media_uri("s3://other-bucket/x.mp4", loc, roots)
    with pytest.raises(ManifestError, match="outside"):
        resolve_media_uri("s3://media-bucket/inboxes/x.mp4", loc, roots)


def test_deliver_writes_media_then_manifest(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"not really a video")
    inbox = Inbox(str(tmp_path / "inbox"))
    found = inbox.deliver(video, {"title_id": "ep-1", "delivered_at": "2026-11-23T10:00:00Z",
                                  "series": "S"})
    assert found.key == "2026-11-23/ep-1.json"
    assert found.media_location == str(tmp_path / "inbox" / "2026-11-23" / "ep-1" / "media" / "v.mp4")
    assert [e.key for e in inbox.list_manifests()] == ["2026-11-23/ep-1.json"]
    assert inbox.latest_for_title("ep-1").digest == found.digest
    assert inbox.latest_for_title("other") is None


def test_latest_for_title_walks_back_from_the_newest_day(prism_home, media):
    from helpers import deliver, drop_raw_manifest, inbox_of

    deliver(prism_home, media["clip"], "ep-7", delivered_at="2026-10-02T10:00:00Z", title_name="v1")
    newest = deliver(prism_home, media["clip"], "ep-7", delivered_at="2026-11-20T10:00:00Z", title_name="v2")
    deliver(prism_home, media["clip"], "ep-8", delivered_at="2026-11-23T10:00:00Z")
    drop_raw_manifest(prism_home, "2026-11-24/ep-7.json", b"{ broken")  # a bad newer one is skipped
    drop_raw_manifest(prism_home, "not-a-day/ep-7.json", b"{}")  # outside the day layout
    inbox = inbox_of(prism_home)
    assert [d.isoformat() for d in inbox.list_days()] == [
        "2026-10-02", "2026-11-20", "2026-11-23", "2026-11-24"]
    assert inbox.latest_for_title("ep-7").digest == newest.digest
    assert inbox.latest_for_title("ep-9") is None
    # Listing by day reads only those prefixes; the full listing still sees everything.
    from datetime import date
    assert [e.key for e in inbox.list_manifests(days=[date(2026, 11, 23)])] == ["2026-11-23/ep-8.json"]
    assert "not-a-day/ep-7.json" in [e.key for e in inbox.list_manifests()]
