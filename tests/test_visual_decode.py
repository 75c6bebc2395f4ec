"""The decode pass's sources: planar and semi-planar frames, the stream's decoder or one named.

Hardware decoders (NVDEC through ``h264_cuvid``) hand frames over as NV12 or P010; the pass reads
their planes directly, as it reads planar YUV. On a machine without one, the same frames are made
by FFmpeg's converter, and a software decoder is named instead (benchmarks/worker_visual_pass.py
measures NVDEC on a GPU worker).
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from prism.media.synth import Dissolve, Scene, write_title
from prism.visual.captures import CaptureOptions
from prism.visual.decode import VisualDecodeError, _decoded_ahead, run_pass
from prism.visual.segments import boundary_step, run_pass_segmented, segment_bounds
from prism.visual.signals import SLOT_SIZES, direct_format, gather, plane_layout


def _slots(frame) -> list[np.ndarray]:
    slots = [np.empty(size, np.uint8) for size in SLOT_SIZES]
    gather(frame, plane_layout(frame), slots)
    return slots


@pytest.mark.parametrize("size", [(1920, 1080), (642, 362)])
@pytest.mark.parametrize("pix_fmt", ["nv12", "p010le"])
def test_semi_planar_frames_give_the_samples_of_planar_ones(pix_fmt, size):
    width, height = size
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    planar = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    semi = planar.reformat(format=pix_fmt)
    assert semi.format.name == pix_fmt and direct_format(pix_fmt)
    assert len(semi.planes) == 2

    expected, got = _slots(planar), _slots(semi)
    for name, a, b in zip(("Y grid", "U", "V", "Y cell", "Y right", "Y below"), expected, got, strict=True):
        assert np.array_equal(a, b), name
    # U and V are not swapped: the test picture's chroma planes differ.
    assert not np.array_equal(got[1], got[2])


@pytest.fixture(scope="module")
def title(tmp_path_factory):
    path = tmp_path_factory.mktemp("decode") / "title.mp4"
    write_title(path, [Scene(1, 2.0), Dissolve(0.5), Scene(2, 2.0, pan_px_per_s=90)], [],
                width=480, height=270)
    return path


def test_a_named_decoder_gives_the_signals_of_the_streams_own(title, tmp_path):
    own, _ = run_pass(str(title), tmp_path / "own.parquet", tmp_path / "own", skip_loop_filter=False)
    named, _ = run_pass(str(title), tmp_path / "named.parquet", tmp_path / "named", decoder="h264")
    assert named.frame_count == own.frame_count == 112
    assert named.duration_s == own.duration_s
    assert pq.read_table(tmp_path / "named.parquet").equals(pq.read_table(tmp_path / "own.parquet"))


def test_nvdec_decodes_where_it_can_and_says_why_not_where_it_cannot(title, tmp_path):
    software, _ = run_pass(str(title), tmp_path / "sw.parquet", tmp_path / "sw")
    asked, _ = run_pass(str(title), tmp_path / "nvdec.parquet", tmp_path / "nvdec", decoder="nvdec")
    assert software.decoder == "h264" and not software.decoder_note
    assert asked.frame_count == software.frame_count
    if asked.decoder == "h264_cuvid":  # a machine with an NVIDIA GPU and its video driver
        assert asked.pix_fmt == "nv12" and not asked.decoder_note
    else:  # here: no GPU, so the stream's own decoder, and the summary says why
        assert asked.decoder == "h264"
        assert asked.decoder_note.startswith("NVDEC unavailable (the decoder 'h264_cuvid' cannot decode")
        assert pq.read_table(tmp_path / "nvdec.parquet").equals(pq.read_table(tmp_path / "sw.parquet"))


def test_nvdec_leaves_codecs_it_does_not_decode_to_software(tmp_path):
    path = tmp_path / "lossless.mkv"
    with av.open(str(path), "w") as output:
        stream = output.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 90, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((90, 160, 3), i * 20, np.uint8), format="rgb24")
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    summary, _ = run_pass(str(path), tmp_path / "s.parquet", tmp_path / "sprites", decoder="nvdec")
    assert summary.frame_count == 10
    assert summary.decoder == "ffv1"
    assert summary.decoder_note == "NVDEC does not decode ffv1: decoded in software"


def test_a_decoder_that_cannot_run_here_is_a_clear_error(title, tmp_path):
    with pytest.raises(VisualDecodeError, match="'no_such_decoder' cannot decode this stream"):
        run_pass(str(title), tmp_path / "s.parquet", tmp_path / "sprites", decoder="no_such_decoder")
    assert not (tmp_path / "s.parquet").exists()


def test_decoding_ahead_keeps_the_order_hands_over_errors_and_stops_when_closed():
    assert list(_decoded_ahead(iter(range(100)), depth=3)) == list(range(100))

    def broken():
        yield 1
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")

    ahead = _decoded_ahead(broken())
    assert next(ahead) == 1
    with pytest.raises(av.error.InvalidDataError):
        next(ahead)

    produced = []

    def endless():
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    ahead = _decoded_ahead(endless(), depth=4)
    assert [next(ahead) for _ in range(10)] == list(range(10))
    ahead.close()  # joins the thread: it stops within its bounded look-ahead
    assert not any(t.name == "prism-decode-ahead" for t in threading.enumerate())
    assert len(produced) <= 10 + 4 + 2


# -- the pass in segments side by side (prism.visual.segments) -------------------------------------
def test_segment_bounds_are_on_the_thumbnail_and_sample_grids():
    assert boundary_step(5.0, 1.0) == 5.0
    assert boundary_step(5.0, 1.5) == 15.0
    assert boundary_step(0.05, 1.0) == pytest.approx(1.0)
    assert boundary_step(5.0, None) == 5.0
    assert segment_bounds(7200.0, 2, 5.0) == [(0.0, 3600.0), (3600.0, math.inf)]
    assert segment_bounds(7203.0, 3, 5.0) == [(0.0, 2400.0), (2400.0, 4800.0), (4800.0, math.inf)]
    assert segment_bounds(150.0, 4, 5.0) == [(0.0, 75.0), (75.0, math.inf)]  # segments of 60 s at least
    assert segment_bounds(90.0, 2, 5.0) == [(0.0, math.inf)]
    assert segment_bounds(7200.0, 1, 5.0) == [(0.0, math.inf)]
    assert segment_bounds(None, 2, 5.0) == [(0.0, math.inf)]


@contextlib.contextmanager
def _path_of(path):
    yield path


@pytest.fixture(scope="module")
def long_title(tmp_path_factory):
    """25 s: cuts at 4 s and at 8 s (a segment boundary below), a dissolve, flashes, a pan."""
    path = tmp_path_factory.mktemp("segments") / "title.mp4"
    write_title(path, [Scene(1, 4.0), Scene(2, 4.0, pan_px_per_s=60), Scene(3, 5.0), Dissolve(1.0),
                       Scene(4, 5.0, flashes_s=(1.5,)), Scene(5, 6.0)], [], width=320, height=180)
    return path


def test_segments_side_by_side_give_the_outputs_of_one_pass(long_title, tmp_path):
    def capture(name):
        (tmp_path / name).mkdir()
        return CaptureOptions(keyframe_candidates=tmp_path / name / "candidates.parquet",
                              text_samples=tmp_path / name / "samples.parquet", sample_interval_s=1.0)

    # Thumbnails every 0.05 s (several sheets of 100), segments of 5 s at least: three segments,
    # from 8 and 17 s (on the 1 s grid of the text samples).
    options = {"thumbnail_interval_s": 0.05, "thumbnail_width": 64, "min_segment_s": 5.0}
    one, one_vtt = run_pass(str(long_title), tmp_path / "one.parquet", tmp_path / "one", capture=capture("c1"),
                            thumbnail_interval_s=0.05, thumbnail_width=64)
    seg, seg_vtt = run_pass_segmented(functools.partial(_path_of, str(long_title)), tmp_path / "seg.parquet",
                                      tmp_path / "seg", segments=3, duration_s=one.duration_s,
                                      capture=capture("c3"), **options)
    assert seg.segments == 3 and one.segments == 1
    assert pq.read_table(tmp_path / "seg.parquet").equals(pq.read_table(tmp_path / "one.parquet"))
    assert seg_vtt == one_vtt
    assert seg.sprite_sheets == one.sprite_sheets
    for name in one.sprite_sheets:
        assert (tmp_path / "seg" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    samples = [pq.read_table(tmp_path / c / "samples.parquet") for c in ("c1", "c3")]
    assert samples[0].equals(samples[1])
    assert "cut" in samples[0].column("reason").to_pylist()  # the cut at the boundary too
    assert {k: v for k, v in seg.__dict__.items() if k not in ("captures", "segments")} == {
        k: v for k, v in one.__dict__.items() if k not in ("captures", "segments")}
    assert seg.captures["provisional_cuts"] == one.captures["provisional_cuts"] >= 2
    # Keyframe candidates: a stretch across a boundary is split there; elsewhere the same frames.
    times = [set(pq.read_table(tmp_path / c / "candidates.parquet").column("time_s").to_pylist())
             for c in ("c1", "c3")]
    assert all(min(abs(t - b) for b in (8.0, 17.0)) <= 2.5 for t in times[0] ^ times[1])
    assert len(times[0] & times[1]) >= len(times[0]) - 2
    assert not list(tmp_path.glob(".segments-*"))  # the parts are gone


def test_a_segment_that_fails_fails_the_pass_with_its_message(tmp_path):
    path = tmp_path / "cut.mp4"
    write_title(path, [Scene(1, 12.0)], [], width=160, height=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])  # the end of the file is missing
    with pytest.raises(VisualDecodeError):
        run_pass_segmented(functools.partial(_path_of, str(path)), tmp_path / "s.parquet", tmp_path / "sprites",
                           segments=2, duration_s=12.0, min_segment_s=1.0)
    assert not (tmp_path / "s.parquet").exists()
