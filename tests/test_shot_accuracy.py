"""Shot boundaries on titles cut from real photographs (scikit-image's bundled images) with
synthetic camera work: 720p and 1080p H.264, exact ground truth (prism.media.shot_suite).

The targets: hard cuts F1 >= 0.98 (±1 frame), cuts between two framings of one scene
included, with recall >= 0.9 on those alone; every gradual transition of 0.4 s or longer
found as one gradual boundary within ±0.5 s; no boundary at a flash or inside continuous
camera motion; a black stretch is a shot of its own, entered and left at its frames.
The side-by-side table with TransNetV2 and PySceneDetect is benchmarks/shot_accuracy.py.
"""

from functools import reduce

import pytest

from prism.media.probe import probe_media
from prism.media.shot_suite import FPS, SUITE, score, write_suite_title
from prism.visual.decode import read_scalars, run_pass
from prism.visual.shots import ContentShotDetector, batches_from_parquet, shots_table, tiling_problems


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = []
    for title in SUITE:
        d = tmp_path_factory.mktemp(title.name)
        path, truth = write_suite_title(title, d, preset="ultrafast")
        summary, _ = run_pass(str(path), d / "signals.parquet", d / "sprites")
        boundaries = ContentShotDetector().detect(batches_from_parquet(d / "signals.parquet"), FPS)
        out.append((title, path, truth, d / "signals.parquet", summary, boundaries))
    return out


def _total(suite):
    return reduce(lambda a, b: a + b, [score([(b.frame, b.kind, b.span_start, b.span_end) for b in bs], truth)
                                       for _, _, truth, _, _, bs in suite])


def test_titles_are_real_hd_h264(suite):
    for title, path, truth, _, summary, _ in suite:
        probe = probe_media(str(path))
        assert (probe.video.codec, probe.video.width, probe.video.height) == ("h264", title.width, title.height)
        assert summary.frame_count == truth.frame_count
    assert {t.height for t, *_ in suite} == {720, 1080}


def test_hard_cuts_including_cuts_between_two_framings_of_one_scene(suite):
    s = _total(suite)
    table = s.HEADER + "\n" + s.row("cpu")
    print("\n" + table)
    assert s.same_scene >= 10 and s.cuts >= 20, table  # the set holds enough of each to measure
    assert s.cut_f1 >= 0.98, table
    assert s.same_scene_recall >= 0.9, table


def test_every_gradual_transition_is_one_gradual_boundary_within_half_a_second(suite):
    s = _total(suite)
    assert s.gradual >= 6, s.row("cpu")
    assert s.gradual_found == s.gradual, s.row("cpu")


def test_no_boundary_at_flashes_or_inside_camera_motion(suite):
    s = _total(suite)
    assert sum(len(truth.motion) for _, _, truth, *_ in suite) >= 8
    assert s.flash_false == 0 and s.motion_false == 0, s.row("cpu")


def test_black_stretch_is_a_shot_entered_and_left_by_cuts_at_their_frames(suite):
    for _, _, truth, signals, summary, boundaries in suite:
        scalars = read_scalars(signals, ["time_s", "black_ratio"])
        rows = shots_table(boundaries, scalars["time_s"], summary.duration_s,
                           scalars["black_ratio"]).to_pylist()
        assert tiling_problems(shots_table(boundaries, scalars["time_s"], summary.duration_s),
                               summary.frame_count, summary.duration_s) == []
        black_shots = [r for r in rows if r["black"]]
        held = [b for b in truth.black if b["shot"]]
        assert len(black_shots) == len(held), rows
        for shot, b in zip(black_shots, held, strict=True):
            cut_in = b["start_frame"] in truth.cuts
            if cut_in:  # a hard cut into black: the black shot starts at its first frame
                assert shot["start_frame"] == b["start_frame"] and shot["transition"] == "cut"
            else:  # a fade: a gradual boundary whose span ends in the black
                assert shot["transition"] == "gradual"
                assert abs(shot["transition_end_frame"] - b["start_frame"]) <= FPS * 0.5
            if b["end_frame"] in truth.cuts:
                assert shot["end_frame"] == b["end_frame"]
                nxt = rows[shot["shot_index"] + 1]
                assert nxt["transition"] == "cut" and not nxt["black"]
