"""A hostile media corpus, generated here with the ffmpeg CLI and byte patches: each title is processed
or refused with a specific message, the others are unaffected, and nothing half-written is left.

Cases already covered elsewhere are not repeated: zero-length, a non-media file with a video
extension and truncated MP4/MKV (test_probe.py, test_pipeline.py), audio-only and video-only
(test_pipeline.py, test_visual_assets.py), VFR, rotation and two audio tracks (test_probe.py),
every picture corrupt (test_probe.py). docs/operations.md tabulates the outcomes."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from helpers import deliver

from prism_assets.resources import build_resources
from prism_assets.runner import run_title

FF = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
SMALL = "testsrc2=s=320x180:r=25"


def ffmpeg(*args: str) -> None:
    subprocess.run([*FF, *args], check=True, capture_output=True)


def patch_u32(data: bytearray, box: bytes, offset: int, value: int, fmt: str = ">I") -> None:
    """Overwrite a 32-bit field ``offset`` bytes after every occurrence of ``box``."""
    k = data.find(box)
    while k != -1:
        struct.pack_into(fmt, data, k + offset, value)
        k = data.find(box, k + 1)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    if shutil.which("ffmpeg") is None:
        pytest.skip("the ffmpeg CLI is not installed (scripts/setup.sh installs it)")
    d = tmp_path_factory.mktemp("hostile")
    tone = ["-f", "lavfi", "-i", "sine=f=440:d=2"]
    files: dict[str, Path] = {}

    files["one_frame"] = d / "one_frame.mp4"
    ffmpeg("-f", "lavfi", "-i", SMALL, "-frames:v", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(files["one_frame"]))
    files["odd_size"] = d / "odd_size.mp4"  # 321x181 (4:4:4: 4:2:0 needs even sizes)
    ffmpeg("-f", "lavfi", "-i", f"{SMALL}:d=2", *tone, "-vf", "scale=321:181", "-c:v", "libx264",
           "-pix_fmt", "yuv444p", "-c:a", "aac", str(files["odd_size"]))
    files["hevc_10bit"] = d / "hevc_10bit.mp4"
    ffmpeg("-f", "lavfi", "-i", f"{SMALL}:d=2", *tone, "-c:v", "libx265", "-pix_fmt", "yuv420p10le",
           "-x265-params", "log-level=error", "-tag:v", "hvc1", "-c:a", "aac", str(files["hevc_10bit"]))
    files["interlaced_1080i"] = d / "interlaced_1080i.mp4"  # 1920x1080, top field first, coded interlaced
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=50:d=1", *tone,
           "-vf", "tinterlace=interleave_top,fieldorder=tff", "-c:v", "libx264", "-preset", "ultrafast",
           "-flags", "+ilme+ildct", "-x264opts", "tff=1", "-c:a", "aac", str(files["interlaced_1080i"]))
    files["eight_tracks"] = d / "eight_tracks.mkv"  # stereo, 5.1, 7.1 and five mono tracks
    tracks = [a for i in range(8) for a in ("-f", "lavfi", "-i", f"sine=f={300 + 100 * i}:d=2")]
    maps = [a for i in range(1, 9) for a in ("-map", f"{i}:a")]
    channels = [a for i, n in enumerate([2, 6, 8, 1, 1, 1, 1, 1]) for a in (f"-ac:a:{i}", str(n))]
    ffmpeg("-f", "lavfi", "-i", f"{SMALL}:d=2", *tracks, "-map", "0:v", *maps, "-c:v", "libx264",
           "-c:a", "aac", *channels, str(files["eight_tracks"]))

    base = d / "base.mkv"  # 4 s, a keyframe every second
    ffmpeg("-f", "lavfi", "-i", f"{SMALL}:d=4", "-f", "lavfi", "-i", "sine=f=440:d=4", "-c:v", "libx264",
           "-g", "25", "-c:a", "aac", str(base))
    data = bytearray(base.read_bytes())
    for share in (0.45, 0.55, 0.65):  # three 1.5 kB stretches of noise inside the stream
        start = int(len(data) * share)
        for i in range(start, start + 1500):
            data[i] = (i * 7919) % 251
    files["corrupt_mid_stream"] = d / "corrupt_mid_stream.mkv"
    files["corrupt_mid_stream"].write_bytes(bytes(data))

    short = d / "short.mp4"
    ffmpeg("-f", "lavfi", "-i", f"{SMALL}:d=2", *tone, "-c:v", "libx264", "-c:a", "aac", str(short))
    data = bytearray(short.read_bytes())
    # mvhd/mdhd (version 0): duration 16 bytes after the box type; ~24 days at a 1 kHz timescale.
    patch_u32(data, b"mvhd", 20, 0x7FFFFFF0)
    patch_u32(data, b"mdhd", 20, 0x7FFFFFF0)
    files["huge_declared_duration"] = d / "huge_declared_duration.mp4"
    files["huge_declared_duration"].write_bytes(bytes(data))

    mjpeg = d / "mjpeg.avi"
    ffmpeg("-f", "lavfi", "-i", f"{SMALL}:d=2", *tone, "-c:v", "mjpeg", "-c:a", "pcm_s16le", str(mjpeg))
    data = bytearray(mjpeg.read_bytes())
    # The AVI headers claim 16000x16000 (avih dwWidth/dwHeight, BITMAPINFOHEADER biWidth/biHeight).
    patch_u32(data, b"avih", 8 + 32, 16000, "<I")
    patch_u32(data, b"avih", 8 + 36, 16000, "<I")
    patch_u32(data, b"strf", 8 + 4, 16000, "<i")
    patch_u32(data, b"strf", 8 + 8, 16000, "<i")
    files["huge_declared_dimensions"] = d / "huge_declared_dimensions.avi"
    files["huge_declared_dimensions"].write_bytes(bytes(data))
    return files


# name -> (processed?, what must be in the failure or the artifacts)
EXPECTED = {
    "one_frame": (True, None),
    "odd_size": (True, None),
    "hevc_10bit": (True, None),
    "interlaced_1080i": (True, None),
    "eight_tracks": (True, None),
    "corrupt_mid_stream": (True, None),
    "huge_declared_duration": (True, None),
    "huge_declared_dimensions": (False, "decodable_video"),
}


@pytest.mark.timeout(1800)
def test_each_hostile_title_is_processed_or_refused_and_the_others_are_unaffected(
        instance, prism_home, corpus):
    for name in corpus:
        deliver(prism_home, corpus[name], name.replace("_", "-"))
    store = build_resources(prism_home)["storage"].store()

    outcomes = {}
    # The refused titles first: every title processed after them in the same instance and
    # storage shows the others are unaffected.
    for name in sorted(corpus, key=lambda n: EXPECTED[n][0]):
        title = name.replace("_", "-")
        outcome = run_title(title, instance, settings=prism_home)
        failed_checks = sorted(c for c, ok in outcome.checks.items() if not ok and c != "content_qc")
        outcomes[name] = (outcome.success, outcome.failures, failed_checks)
        # Whatever happened, every artifact a reader can see is whole; no temp file is left.
        for f in store.list_files(title):
            if f.endswith(".parquet"):
                store.read_table(title, f)
            elif f.endswith(".json"):
                store.read_json(title, f)
        title_dir = Path(str(store.title_dir(title).path))
        assert not [p for p in title_dir.rglob("*") if ".tmp-" in p.name], name

    for name, outcome in outcomes.items():  # the outcome table of docs/operations.md
        print(f"{name}: {'processed' if outcome[0] else 'refused'} {outcome[1]} {outcome[2]}")
    for name, (processed, needle) in EXPECTED.items():
        success, failures, failed_checks = outcomes[name]
        assert success == processed, (name, outcomes[name])
        if not processed:
            assert needle in failed_checks or any(needle in f for f in failures), (name, outcomes[name])

    title = "eight-tracks"
    probe = store.read_json(title, "probe.json")
    assert [a["channels"] for a in probe["audio"]] == [2, 6, 8, 1, 1, 1, 1, 1]
    assert len(store.read_json(title, "loudness.json")["tracks"]) == 8
    assert store.read_json("huge-declared-duration", "probe.json")["duration_s"] == pytest.approx(2.0, abs=0.1)
    odd = store.read_json("odd-size", "probe.json")["video"]
    assert (odd["width"], odd["height"]) == (321, 181)
    assert store.read_json("hevc-10bit", "probe.json")["video"]["codec"] == "hevc"
    assert store.read_table("one-frame", "shots.parquet").num_rows == 1
