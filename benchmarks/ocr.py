"""On-screen text cost on CPU: seconds of OCR per minute of video at the default interval.

Renders a 1080p25 H.264 title (scikit-image photographs; outlined Korean/English subtitles that
change every 2.5 s, signs on cards, stretches with no text; every third shot pans, so its
pictures change at every sample; see tests/ocr_truth.py), then, in one run, a bare PyAV decode of
the file, the visual pass (which captures the text samples) and ``prism.ocr.video.read_onscreen_text``
on its captures with the default settings (PRISM_OCR_INTERVAL_S = 1 s, detector side 960, one ONNX
Runtime thread per model, the gated and change-aware detector). Prints seconds of OCR per minute
of video beside the bare decode, the split between detection and reading, what the detector did
with its pictures (reused, partly detected, gated, full passes), how many frames the refinement
windows decoded against the title's frame count, and how many drawn lines were found.

``--compare`` runs the same title once more with the plain detector (the full-scale PP-OCR pass
on every picture, as before the gate), for a before/after on the same machine and load.

    .venv/bin/python benchmarks/ocr.py [--seconds 60] [--interval 1.0] [--workdir DIR] [--compare]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from ocr_truth import DEJAVU, DEJAVU_BOLD, NANUM, NANUM_BOLD, TruthLine, TruthShot, render_title  # noqa: E402

from prism.ocr.base import similarity  # noqa: E402

BACKGROUNDS = ("coffee", "chelsea", "astronaut", "rocket")
SUBTITLES = [("어디 가는 거야?", "Hang"), ("Where are you going tonight?", "Latn"),
             ("집에 가고 싶어", "Hang"), ("I want to go home now.", "Latn"),
             ("내일 부산에서 만나자", "Hang"), ("See you in Busan.", "Latn")]


def bench_title(path: Path, seconds: int, fps: int = 25):
    """10 s shots; the first two thirds of each shot carry subtitles, every other shot a sign; the
    last shot of each minute has no text."""
    frames = seconds * fps
    shot_len = 10 * fps
    shots, lines = [], []
    for k, start in enumerate(range(0, frames, shot_len)):
        end = min(start + shot_len, frames)
        shots.append(TruthShot(start, end, BACKGROUNDS[k % len(BACKGROUNDS)],
                               pan_px_per_frame=0.8 if k % 3 == 1 else 0.0))
        if k % 6 == 5:
            continue  # text-free
        for j, s in enumerate(range(start + 13, start + 2 * (end - start) // 3, int(2.5 * fps))):
            text, script = SUBTITLES[(k * 3 + j) % len(SUBTITLES)]
            lines.append(TruthLine(text, s, min(s + int(2.3 * fps), end), "subtitle", script, xy=(960, 960),
                                   font_path=NANUM_BOLD if script == "Hang" else DEJAVU_BOLD, size=64,
                                   style="outline", anchor="mm"))
        if k % 2 == 0:
            lines.append(TruthLine("서울역 2번 출구" if k % 4 == 0 else "SEOUL STATION", start, end, "sign",
                                   "Hang" if k % 4 == 0 else "Latn", xy=(120, 160),
                                   font_path=NANUM if k % 4 == 0 else DEJAVU, size=40))
    return render_title(path, shots, lines, fps=fps, width=1920, height=1080)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--compare", action="store_true",
                        help="also run the plain detector (no gate, no reuse) on the same title")
    args = parser.parse_args()

    import av

    from prism.ocr.rapid import RapidDetector, RapidReader, text_detector
    from prism.ocr.readers import ScriptRoutedReader
    from prism.ocr.tesseract import TesseractReader
    from prism.ocr.video import OcrOptions, captured_samples, plan_samples, read_onscreen_text
    from prism.visual.captures import CaptureOptions, capture_index
    from prism.visual.decode import read_scalars, run_pass

    work = args.workdir or Path(tempfile.mkdtemp(prefix="prism-bench-ocr-"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"ocr_{args.seconds}s_1080p.mp4"
    started = time.perf_counter()
    title = bench_title(path, args.seconds)
    rendered = time.perf_counter() - started
    print(f"rendered {path.name}: {title.frame_count} frames 1920x1080 in {rendered:.1f} s")

    started = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        decoded = sum(1 for _ in container.decode(stream))
    bare = time.perf_counter() - started

    times = np.arange(title.frame_count) / title.fps
    shots = [{"shot_index": i, "start_frame": s.start_frame, "end_frame": s.end_frame}
             for i, s in enumerate(title.shots)]
    minutes = title.duration_s / 60
    started = time.perf_counter()
    samples = work / "text_samples.parquet"
    run_pass(str(path), work / "signals.parquet", work / "sprites",
             capture=CaptureOptions(text_samples=samples, sample_interval_s=args.interval))
    visual_pass = time.perf_counter() - started
    plan = plan_samples(capture_index(samples), shots, len(times))
    key_frames = read_scalars(work / "signals.parquet", ["key_frame"])["key_frame"]
    print(f"bare PyAV decode: {decoded} frames in {bare:.1f} s = {bare / minutes:.1f} s per minute of video; "
          f"the visual pass capturing the samples {visual_pass:.1f} s")
    runs = [("gated, change-aware detector (default)", text_detector())]
    if args.compare:
        runs.append(("plain detector (full-scale pass on every picture)", RapidDetector(gate=False)))
    latin, korean = RapidReader(), TesseractReader()
    for label, detector in runs:
        timings: Counter = Counter()
        timed(timings, detector, "detect", "detect")
        timed(timings, latin, "read", "ppocr_read")
        timed(timings, korean, "read", "tesseract_read")
        started = time.perf_counter()
        result = read_onscreen_text(lambda: str(path), times, shots, captured_samples(plan, samples),
                                    detector=detector, reader=ScriptRoutedReader(latin, korean),
                                    key_frames=key_frames, options=OcrOptions(interval_s=args.interval))
        ocr = time.perf_counter() - started
        untime(detector, "detect")
        untime(latin, "read")
        untime(korean, "read")
        found = sum(any(similarity(e.line.text, t.text) >= 0.5 and e.start_frame < t.end_frame
                        and t.start_frame < e.end_frame for e in result.events) for t in title.lines)
        print(f"\n{label}, interval {args.interval:g} s: {ocr:.1f} s for {title.duration_s:.0f} s of video "
              f"= {ocr / minutes:.1f} s of OCR per minute of video ({ocr / bare:.1f}x the bare decode, "
              f"{bare / minutes:.1f} s per minute)")
        print(f"  samples {result.samples}, refinement probes {result.probes} ({result.detector_probes} by the "
              f"detector); refinement windows {result.windows} decoded {result.decoded_frames} frames of the "
              f"title's {title.frame_count} ({result.decoded_frames / title.frame_count:.1%})")
        reading = timings["ppocr_read"] + timings["tesseract_read"]
        rest = ocr - timings["detect"] - reading
        print(f"  detection {timings['detect']:.1f} s ({timings['detect_calls']} calls, incl. probes; "
              f"{100 * timings['detect'] / ocr:.0f} %), reading {reading:.1f} s ({100 * reading / ocr:.0f} %: "
              f"PP-OCR {timings['ppocr_read']:.1f} s, Tesseract {timings['tesseract_read']:.1f} s, "
              f"{timings['tesseract_read_calls']} lines), decoding and the rest {rest:.1f} s "
              f"({100 * rest / ocr:.0f} %)")
        inner = getattr(detector, "inner", detector)
        if hasattr(detector, "inner"):
            c = detector.stats
            print(f"  pictures {c['frames']}: unchanged, boxes reused {c['reused']} "
                  f"({100 * c['reused'] / max(c['frames'], 1):.0f} %), changed in places {c['partial']}, "
                  f"detected whole {c['full']}")
        c = inner.stats
        print(f"  PP-OCR detector: pictures {c['frames']}, gated (no text, no full-scale pass) {c['gated']} "
              f"({100 * c['gated'] / max(c['frames'], 1):.0f} %), full-scale passes on regions {c['regions']}, "
              f"on whole pictures {c['full']}")
        false = [e for e in result.events
                 if not any(similarity(e.line.text, t.text) >= 0.5 and e.start_frame < t.end_frame
                            and t.start_frame < e.end_frame for t in title.lines)]
        print(f"  events {len(result.events)}; drawn lines found {found}/{len(title.lines)}; events matching "
              f"no drawn line {len(false)} {[e.line.text for e in false][:5]}")


def timed(timings: Counter, obj, name: str, key: str) -> None:
    inner = getattr(obj, name)

    def wrapper(*a, **kw):
        t0 = time.perf_counter()
        try:
            return inner(*a, **kw)
        finally:
            timings[key] += time.perf_counter() - t0
            timings[key + "_calls"] += 1
    setattr(obj, name, wrapper)


def untime(obj, name: str) -> None:
    delattr(obj, name)


if __name__ == "__main__":
    main()
