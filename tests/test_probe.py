"""The probe on generated media: good deliveries give a correct probe, bad ones a specific error."""

import json
import struct

import pytest

from prism.media.probe import MediaError, probe_media


def test_clip_probe_matches_what_was_encoded(media):
    p = probe_media(str(media["clip"]))
    truth = json.loads(media["clip"].with_name("clip.mp4.truth.json").read_text())
    assert p.video.codec == "h264" and (p.video.width, p.video.height) == (320, 180)
    assert p.video.frame_count == truth["frame_count"] == 100
    assert p.video.fps == pytest.approx(25.0, abs=0.01)
    assert p.duration_s == pytest.approx(4.0, abs=0.05)
    assert not p.video.vfr and p.video.rotation == 0 and p.video.decodable
    assert [(a.codec, a.channels, a.sample_rate, a.language) for a in p.audio] == [
        ("aac", 2, 48000, "eng")]
    assert p.size_bytes == media["clip"].stat().st_size


def test_no_audio(media):
    p = probe_media(str(media["no_audio"]))
    assert p.audio == [] and p.has_decodable_video


def test_audio_only_is_a_probe_without_video(media):
    p = probe_media(str(media["audio_only"]))
    assert p.video is None and not p.has_decodable_video
    assert len(p.audio) == 1 and p.duration_s == pytest.approx(2.2, abs=0.1)


def test_variable_frame_rate_uses_timestamps(media):
    p = probe_media(str(media["vfr"]))
    assert p.video.vfr
    # 75 frames whose durations alternate 20/60 ms: 3 s by timestamps.
    assert p.video.frame_count == 75
    assert p.duration_s == pytest.approx(3.0, abs=0.05)


def test_rotation_from_display_matrix(media):
    assert probe_media(str(media["rotated"])).video.rotation == 90


def test_two_audio_tracks_with_languages(media):
    p = probe_media(str(media["two_tracks"]))
    assert [(a.track, a.language, a.channels) for a in p.audio] == [(0, "eng", 2), (1, "kor", 1)]
    assert p.container == "matroska,webm"


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("zero_byte", "empty_file", "empty \\(0 bytes\\)"),
        ("not_video", "not_media", "not a recognisable media container"),
        ("truncated_mp4", "truncated", "no readable index .* truncated"),
        ("truncated_mkv", "truncated", "ends at .* but the container declares .* truncated"),
        ("truncated_faststart", "truncated", "truncated"),
    ],
)
@pytest.mark.parametrize("head_window_s", [120.0, 1.0])
def test_bad_media_gives_specific_errors(media, name, code, message, head_window_s):
    # Both probe paths: reading the whole (short) stream, and head + seek-to-tail.
    with pytest.raises(MediaError, match=message) as info:
        probe_media(str(media[name]), head_window_s=head_window_s)
    assert info.value.code == code


def test_probe_io_is_bounded_but_duration_exact(media):
    whole = probe_media(str(media["long_mkv"]))
    assert whole.video.frame_count_exact and whole.video.frame_count == 250
    bounded = probe_media(str(media["long_mkv"]), head_window_s=2.0)
    assert not bounded.video.frame_count_exact
    assert bounded.duration_s == pytest.approx(whole.duration_s, abs=1e-6)
    assert abs(bounded.video.frame_count - 250) <= 1
    assert bounded.video.fps == pytest.approx(25.0, abs=0.1)
    fast = probe_media(str(media["faststart"]), head_window_s=1.0)
    assert fast.duration_s == pytest.approx(6.0, abs=0.05) and fast.video.decodable


def test_vfr_is_seen_from_the_head_window_alone(media):
    p = probe_media(str(media["vfr"]), head_window_s=1.0)
    assert p.video.vfr and p.duration_s == pytest.approx(3.0, abs=0.05)


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="not found") as info:
        probe_media(str(tmp_path / "nope.mp4"))
    assert info.value.code == "missing"


def test_corrupt_pictures_fail_the_decodable_flag(media, tmp_path):
    # Container and index intact, every coded picture overwritten with noise.
    data = bytearray(media["no_audio"].read_bytes())
    pos = data.find(b"mdat")
    size = struct.unpack(">I", data[pos - 4:pos])[0]
    for i in range(pos + 4, pos - 4 + size):
        data[i] = (i * 7919) % 251
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(bytes(data))
    p = probe_media(str(bad))
    assert p.video is not None and not p.video.decodable
    assert "does not decode" in p.video.decode_error
    assert not p.has_decodable_video


def test_probe_reads_s3_file_objects(media, s3_bucket, s3_server):
    from resources import MediaReader

    s3_server.client().upload_file(str(media["two_tracks"]), s3_bucket, "in/two.mkv")
    reader = MediaReader(s3_endpoint_url=s3_server.endpoint_url)
    uri = f"s3://{s3_bucket}/in/two.mkv"
    with reader.open(uri) as fh:
        p = probe_media(fh, size_bytes=reader.size(uri))
    assert [a.language for a in p.audio] == ["eng", "kor"]
    assert p.size_bytes == media["two_tracks"].stat().st_size
