"""Where the on-screen text step gets its frames: the decode pass's samples, and short windows of
the title decoded for the boundary refinement (never the whole title)."""

from __future__ import annotations

import av
import numpy as np
import pyarrow as pa
import pytest
from ocr_truth import short_title

from prism.ocr.video import WindowDecoder, captured_samples, plan_samples
from prism.visual.captures import CaptureOptions, capture_index
from prism.visual.decode import read_scalars, run_pass


def test_plan_keeps_grid_samples_real_shot_starts_and_keyframes():
    captures = pa.table({"frame_index": [0, 25, 37, 50, 60, 75, 85], "reason": ["grid", "grid", "cut", "grid",
                                                                               "cut", "grid", "grid"]})
    shots = [{"shot_index": 0, "start_frame": 0, "end_frame": 60},
             {"shot_index": 1, "start_frame": 60, "end_frame": 100}]
    # 37 was a provisional cut the shot detector did not confirm: not read. 90 is a keyframe.
    assert plan_samples(captures, shots, 100, keyframes=[90]) == [(0, 0), (25, 0), (50, 0), (60, 1), (75, 1),
                                                                   (85, 1), (90, 1)]


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    work = tmp_path_factory.mktemp("ocr-frames")
    title = short_title(work / "signs.mp4")
    summary, _ = run_pass(str(title.path), work / "signals.parquet", work / "sprites",
                          capture=CaptureOptions(text_samples=work / "samples.parquet"))
    with av.open(str(title.path)) as container:
        reference = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return title, work, summary, reference


def test_samples_come_from_the_pass_every_second_and_at_the_cut(captured):
    title, work, summary, reference = captured
    index = capture_index(work / "samples.parquet")
    shots = [{"shot_index": i, "start_frame": s.start_frame, "end_frame": s.end_frame}
             for i, s in enumerate(title.shots)]
    plan = plan_samples(index, shots, summary.frame_count)
    assert [f for f, _ in plan] == [0, 25, 50, 75, 100, 125, 150, 175]  # the cut at 100 is on the grid
    for frame_index, shot_index, image in captured_samples(plan, work / "samples.parquet"):
        assert shot_index == (0 if frame_index < 100 else 1)
        # JPEG q90 of the pass's decode (deblocking skipped): close to the real frame.
        assert np.abs(image.astype(int) - reference[frame_index]).mean() < 3, frame_index


def test_windows_decode_exact_frames_and_only_near_the_boundary(captured):
    title, work, summary, reference = captured
    times = read_scalars(work / "signals.parquet", ["time_s"])["time_s"]
    keys = read_scalars(work / "signals.parquet", ["key_frame"])["key_frame"]
    assert keys[0] and keys.sum() < len(keys) / 10  # a few seek points (the title's GOP is 50)
    with WindowDecoder(lambda: str(title.path), times, key_frames=keys) as windows:
        got = windows.frames(60, 75)
        assert sorted(got) == list(range(60, 76))
        for i in (60, 67, 75):
            assert np.array_equal(windows.rgb(got[i]), reference[i])
        first = windows.decoded
        assert first <= 75 - 50 + 1  # from the seek point at 50, not from 0
        # The next window's seek point (150) lies ahead of the decoder: a seek, not 75 frames decoded on.
        windows.frames(150, 160)
        assert windows.decoded - first == 11
        # A window just ahead with its seek point behind the decoder is decoded on.
        windows.frames(170, 175)
        assert windows.decoded - first == 11 + 15
    assert windows.windows == 3 and windows.decoded < summary.frame_count
