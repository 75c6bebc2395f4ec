"""Keyframe selection, extraction by seeking, sprites/VTT and the decode pass's own output."""

import math

import numpy as np
import pytest
from PIL import Image

from prism.media.synth import Dissolve, Scene, write_title
from prism.visual.decode import read_scalars, run_pass
from prism.visual.keyframes import (
    KeyframeChoice,
    contact_sheet,
    extract_frames,
    frame_scores,
    select_keyframes,
)
from prism.visual.shots import ContentShotDetector, batches_from_parquet, shots_table
from prism.visual.signals import frames_of
from prism.visual.sprites import parse_vtt

FPS = 25.0


@pytest.fixture(scope="module")
def title(tmp_path_factory):
    d = tmp_path_factory.mktemp("kf")
    path = d / "title.mp4"
    # A fast pan in the first shot: neighbouring frames differ, so extracting the wrong frame is
    # visible. (A dissolve next to a fast pan is not told apart from the pan by the CPU detector.)
    timeline = [Scene(1, 3.0, pan_px_per_s=200), Scene(2, 14.0, pan_px_per_s=30), Dissolve(1.0),
                Scene(3, 3.0, pan_px_per_s=30, flashes_s=(1.0,))]
    truth = write_title(path, timeline, [], width=320, height=180, fps=FPS)
    summary, vtt = run_pass(str(path), d / "s.parquet", d / "sprites", thumbnail_interval_s=2.0)
    return path, truth, summary, vtt, d


def _shots(d, summary):
    boundaries = ContentShotDetector().detect(batches_from_parquet(d / "s.parquet"), FPS)
    times = read_scalars(d / "s.parquet", ["time_s"])["time_s"]
    return shots_table(boundaries, times, summary.duration_s).to_pylist()


def test_pass_reads_every_frame_with_its_presentation_time(title):
    _, truth, summary, _, d = title
    assert summary.frame_count == truth.frame_count
    assert summary.duration_s == pytest.approx(truth.duration_s)
    sig = read_scalars(d / "s.parquet", ["frame_index", "time_s", "luma_mean", "sharpness"])
    assert sig["frame_index"].tolist() == list(range(truth.frame_count))
    assert np.allclose(sig["time_s"], np.arange(truth.frame_count) / FPS)
    flash = truth.flashes[0]
    assert sig["luma_mean"][flash] > 0.9 > sig["luma_mean"][flash - 1]  # the white frame
    assert sig["sharpness"][flash] < 0.2 * np.median(sig["sharpness"])  # and it has no detail


def test_low_resolution_frames_match_a_full_resize(title):
    """The sparse-grid 48x27 frames look like an area resize of the real decoded picture."""
    import av

    path, _, _, _, d = title
    import pyarrow.parquet as pq

    stored = frames_of(pq.read_table(d / "s.parquet", columns=["rgb_48x27"]).column(0))
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i in (10, 200):
                ref = frame.to_ndarray(width=48, height=27, format="rgb24", interpolation="AREA")
                assert np.abs(ref.astype(int) - stored[i]).mean() < 8, i
            if i > 200:
                break


def test_selection_avoids_transitions_and_splits_long_shots(title):
    _, truth, summary, _, d = title
    shots = _shots(d, summary)
    sig = read_scalars(d / "s.parquet", ["time_s", "sharpness", "motion", "black_ratio"])
    scores = frame_scores(sig["sharpness"], sig["motion"], sig["black_ratio"])
    choices = select_keyframes(shots, sig["time_s"], scores, every_s=5.0)
    by_shot: dict[int, list[KeyframeChoice]] = {}
    for c in choices:
        by_shot.setdefault(c.shot_index, []).append(c)
    assert set(by_shot) == {s["shot_index"] for s in shots}
    for s in shots:
        picks = by_shot[s["shot_index"]]
        assert len(picks) == max(1, math.ceil((s["end_s"] - s["start_s"]) / 5.0))
        assert sorted(p.rank for p in picks) == list(range(len(picks)))
        for p in picks:
            assert s["start_frame"] <= p.frame_index < s["end_frame"]
            assert s["start_s"] <= p.time_s < s["end_s"]
    gradual = [s for s in shots if s["transition"] == "gradual"]
    assert len(gradual) == 1
    span = range(gradual[0]["transition_start_frame"], gradual[0]["transition_end_frame"])
    assert not any(c.frame_index in span for c in choices)
    assert not any(c.frame_index in (f, f + 1) for c in choices for f in truth.flashes)  # white frames
    assert not any(abs(c.frame_index - cut) < 2 for c in choices for cut in truth.cuts)


def test_extraction_by_seeking_returns_the_exact_frames(title):
    path, truth, _, _, d = title
    import pyarrow.parquet as pq

    stored = frames_of(pq.read_table(d / "s.parquet", columns=["rgb_48x27"]).column(0))
    # Out of order on purpose; 60/61 are neighbours, the others far apart (seeks).
    targets = [(i, i / FPS) for i in (3, 480, 60, 61, 30, 200, truth.frame_count - 1)]
    got = dict(extract_frames(str(path), targets))
    assert sorted(got) == sorted(i for i, _ in targets)
    for i, image in got.items():
        assert image.size == (320, 180)
        small = np.asarray(image.resize((48, 27), Image.Resampling.BOX)).astype(int)
        here = np.abs(small - stored[i]).mean()
        assert here < 6, i
        for j in (i - 1, i + 1):
            if 0 <= j < 75:  # inside the fast pan
                assert here < np.abs(small - stored[j]).mean(), (i, j)


def test_sprites_and_vtt_cover_the_title(title):
    _, truth, summary, vtt, d = title
    cues = parse_vtt(vtt)
    assert vtt.startswith("WEBVTT")
    assert len(cues) == math.ceil(truth.duration_s / 2.0) == summary.thumbnails
    assert cues[0][0] == 0.0 and cues[-1][1] == pytest.approx(truth.duration_s)
    assert all(a[1] == b[0] for a, b in zip(cues, cues[1:], strict=False))
    for _, _, target in cues:
        name, frag = target.split("#xywh=")
        x, y, w, h = map(int, frag.split(","))
        with Image.open(d / "sprites" / name.split("/", 1)[1]) as sheet:
            assert x + w <= sheet.width and y + h <= sheet.height
        assert (w, h) == (160, 90)


def test_rotated_title_gets_display_oriented_images(tmp_path):
    path = tmp_path / "rot.mp4"
    write_title(path, [Scene(5, 1.0)], [], width=320, height=180, rotation=90)
    summary, vtt = run_pass(str(path), tmp_path / "s.parquet", tmp_path / "sprites", rotation=90)
    w, h = map(int, parse_vtt(vtt)[0][2].split("#xywh=")[1].split(",")[2:])
    assert (w, h) == (160, 284)  # portrait tiles
    (_, image), = extract_frames(str(path), [(0, 0.0)], rotation=90)
    assert image.size == (180, 320)


def test_contact_sheet_grid():
    tiles = [(f"#{i}", Image.new("RGB", (320, 180), (i * 20, 0, 0))) for i in range(8)]
    sheet = contact_sheet(tiles, tile_width=100, columns=3)
    assert sheet.size == (300, 3 * (56 + 18))


def test_corrupt_video_is_a_clear_error(tmp_path):
    from prism.visual.decode import VisualDecodeError

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(VisualDecodeError, match="cannot open the media"):
        run_pass(str(bad), tmp_path / "s.parquet", tmp_path / "sprites")
    assert not (tmp_path / "s.parquet").exists()


def test_pass_captures_keyframes_so_that_nothing_is_sought(title, tmp_path):
    """The pass's candidates are the exact frames they claim, the selection takes them with the
    same rules (outside transitions, flashes and cut margins; one per started stretch), and on this
    title no keyframe needs a seek."""
    import pyarrow.parquet as pq

    from prism.visual.captures import CaptureOptions, capture_index, decode_jpeg, iter_captures

    path, truth, summary, _, d = title
    captures = CaptureOptions(keyframe_candidates=tmp_path / "kc.parquet", text_samples=tmp_path / "ts.parquet")
    again, _ = run_pass(str(path), tmp_path / "s.parquet", tmp_path / "sprites", capture=captures)
    assert again.frame_count == summary.frame_count
    stored = frames_of(pq.read_table(d / "s.parquet", columns=["rgb_48x27"]).column(0))
    for row in iter_captures(tmp_path / "kc.parquet"):
        image = decode_jpeg(row["jpeg"])
        assert image.shape == (180, 320, 3) and (row["width"], row["height"]) == (320, 180)
        small = np.asarray(Image.fromarray(image).resize((48, 27), Image.Resampling.BOX)).astype(int)
        i = row["frame_index"]
        here = np.abs(small - stored[i]).mean()
        assert here < 6, i
        for j in (i - 1, i + 1):
            if 0 <= j < 75:  # inside the fast pan
                assert here < np.abs(small - stored[j]).mean(), (i, j)

    shots = _shots(d, summary)
    sig = read_scalars(d / "s.parquet", ["time_s", "sharpness", "motion", "black_ratio"])
    scores = frame_scores(sig["sharpness"], sig["motion"], sig["black_ratio"])
    captured = np.zeros(len(scores), bool)
    candidates = capture_index(tmp_path / "kc.parquet").column("frame_index").to_pylist()
    captured[candidates] = True
    assert len(candidates) <= math.ceil(truth.duration_s / 2.5) + 2 * len(shots)  # bounded by stretches
    choices = select_keyframes(shots, sig["time_s"], scores, every_s=5.0, captured=captured)
    plain = select_keyframes(shots, sig["time_s"], scores, every_s=5.0)
    assert [(c.shot_index, c.rank) for c in choices] == [(c.shot_index, c.rank) for c in plain]
    assert all(c.captured for c in choices), [c for c in choices if not c.captured]
    for c, p in zip(choices, plain, strict=True):
        assert c.score >= 0.75 * p.score
    gradual = next(s for s in shots if s["transition"] == "gradual")
    span = range(gradual["transition_start_frame"], gradual["transition_end_frame"])
    assert not any(c.frame_index in span for c in choices)
    assert not any(c.frame_index in (f, f + 1) for c in choices for f in truth.flashes)
    assert not any(abs(c.frame_index - cut) < 2 for c in choices for cut in truth.cuts)

    # Text samples: every whole second, and the first frame of the shot after each cut.
    samples = capture_index(tmp_path / "ts.parquet").to_pylist()
    frames = {r["frame_index"] for r in samples}
    assert {round(k * FPS) for k in range(math.ceil(truth.duration_s))} <= frames
    assert set(truth.cuts) <= frames


def test_the_keyframe_audit_finds_each_kind_of_fault():
    import io as _io

    from prism.visual.keyframes import audit_keyframes

    def jpeg(w, h):
        buf = _io.BytesIO()
        Image.new("RGB", (w, h), (90, 90, 90)).save(buf, "JPEG")
        return buf.getvalue()

    images = {"k/0.jpg": jpeg(32, 18), "k/1.jpg": jpeg(32, 18), "k/2.jpg": b"not a jpeg"}
    shots = [{"shot_index": i, "start_frame": 25 * i, "end_frame": 25 * (i + 1), "start_s": float(i),
              "end_s": float(i + 1)} for i in range(4)]
    rows = [
        {"shot_index": 0, "frame_index": 10, "time_s": 0.4, "path": "k/0.jpg", "width": 32, "height": 18},
        {"shot_index": 1, "frame_index": 60, "time_s": 2.4, "path": "k/1.jpg", "width": 64, "height": 36},
        {"shot_index": 2, "frame_index": 55, "time_s": 2.2, "path": "k/2.jpg", "width": 32, "height": 18},
    ]
    audit = audit_keyframes(rows, shots, images.__getitem__)
    assert not audit.passed
    assert audit.shots_without_keyframe == [3]
    assert audit.outside_their_shot == ["k/1.jpg"]  # frame 60 / 2.4 s lies in shot 2, not 1
    assert audit.unreadable == ["k/1.jpg (size (32, 18))", "k/2.jpg (UnidentifiedImageError)"]
    clean = audit_keyframes(rows[:1], shots[:1], images.__getitem__)
    assert clean.passed
