"""Visual pass speed and memory, side by side with a bare decode and PySceneDetect.

On a generated 1080p H.264 title (>= 60 s) it runs, interleaved round by round:
  1. a bare decode: ``ffmpeg -threads 0 -i FILE -f null -`` (the physical limit),
  2. Prism's visual pass (decode + every frame signal + 48x27 frames + sprites), as
     configured by default (in-loop deblocking skipped), the same with the full-resolution
     captures of production (keyframe candidates and on-screen text samples, see
     prism/visual/captures.py), and with full decoding,
  3. PySceneDetect's ContentDetector with default settings,
each in its own subprocess (clean peak RSS), and prints the median times, the
ratios and peak memory; then the capturing pass's peak memory on a title 10x longer (the
same stream looped by remuxing, no re-encode) against the short one.

    .venv/bin/python benchmarks/visual_pass.py [--seconds 60] [--rounds 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


# -- one measurement (runs in a child process) -------------------------------
def _peak_mb(who: int) -> float:
    """Peak RSS. For this process: VmHWM (ru_maxrss would carry over the peak of the parent
    image across exec on Linux); for a finished child: its ru_maxrss."""
    if who == resource.RUSAGE_SELF:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def measure(kind: str, media: str) -> dict:
    if kind == "bare":
        started = time.perf_counter()
        subprocess.run(["ffmpeg", "-v", "error", "-threads", "0", "-i", media, "-f", "null", "-"], check=True)
        return {"seconds": time.perf_counter() - started, "peak_mb": _peak_mb(resource.RUSAGE_CHILDREN)}
    if kind in ("pass", "pass_captures", "pass_full_decode"):
        sys.path.insert(0, str(REPO))
        from prism.visual.captures import CaptureOptions
        from prism.visual.decode import run_pass

        with tempfile.TemporaryDirectory() as tmp:
            capture = (CaptureOptions(keyframe_candidates=Path(tmp) / "candidates.parquet",
                                      text_samples=Path(tmp) / "samples.parquet")
                       if kind == "pass_captures" else None)
            started = time.perf_counter()
            summary, _ = run_pass(media, Path(tmp) / "signals.parquet", Path(tmp) / "sprites",
                                  skip_loop_filter=kind != "pass_full_decode", capture=capture)
            seconds = time.perf_counter() - started
        return {"seconds": seconds, "peak_mb": _peak_mb(resource.RUSAGE_SELF), "frames": summary.frame_count,
                **summary.captures}
    if kind == "pyscenedetect":
        import warnings

        from scenedetect import ContentDetector, detect

        warnings.simplefilter("ignore")
        started = time.perf_counter()
        scenes = detect(media, ContentDetector())
        return {"seconds": time.perf_counter() - started, "peak_mb": _peak_mb(resource.RUSAGE_SELF),
                "scenes": len(scenes)}
    raise SystemExit(f"unknown measurement {kind}")


def run_child(kind: str, media: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--measure", kind, str(media)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- media ---------------------------------------------------------------------
def make_title(path: Path, seconds: float) -> None:
    sys.path.insert(0, str(REPO))
    from prism.media.synth import Dissolve, FadeIn, FadeOut, Scene, write_title

    # A mix of cuts, pans, a dissolve and a fade, repeated to the length asked for.
    unit = [Scene(1, 4.0), Scene(2, 3.0, pan_px_per_s=120), Scene(2, 3.0, zoom=1.5),
            Dissolve(1.0), Scene(3, 4.0, flashes_s=(1.5,)), FadeOut(0.5), FadeIn(0.5),
            Scene(4, 4.0, pan_px_per_s=400)]
    unit_s = sum(i.duration_s for i in unit)
    timeline = []
    for k in range(int(seconds // unit_s) + 1):
        timeline += [Scene(s.seed + 10 * k, s.duration_s, s.pan_px_per_s, s.zoom, s.flashes_s)
                     if isinstance(s, Scene) else s for s in unit]
    write_title(path, timeline, [], width=1920, height=1080, fps=25.0)


def loop_title(src: Path, dst: Path, times: int) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(times - 1), "-i", str(src),
                    "-c", "copy", str(dst)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "prism-bench-visual")
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "MEDIA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    if not shutil.which("ffmpeg"):
        raise SystemExit("the ffmpeg binary is needed for the bare-decode baseline")

    args.workdir.mkdir(parents=True, exist_ok=True)
    short = args.workdir / f"title_1080p_{int(args.seconds)}s.mp4"
    long = args.workdir / f"title_1080p_{int(args.seconds * 10)}s.mp4"
    if not short.exists():
        print(f"generating {short} ...", flush=True)
        make_title(short, args.seconds)
    if not long.exists():
        loop_title(short, long, 10)
    load = os.getloadavg()
    print(f"media: {short.name} ({short.stat().st_size / 1e6:.1f} MB), 1920x1080 H.264 25 fps; "
          f"cpus={os.cpu_count()}; load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    results: dict[str, list[dict]] = {"bare": [], "pass": [], "pass_captures": [], "pass_full_decode": [],
                                      "pyscenedetect": []}
    for r in range(args.rounds):
        for kind in results:  # interleaved: every round runs all three back to back
            results[kind].append(run_child(kind, short))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]['seconds']:.2f}s" for k, v in results.items()),
              flush=True)
    med = {k: statistics.median(x["seconds"] for x in v) for k, v in results.items()}
    peak = {k: max(x["peak_mb"] for x in v) for k, v in results.items()}
    frames = results["pass"][0]["frames"]
    print()
    print(f"{'':<28}{'median s':>10}{'fps':>9}{'peak MB':>10}")
    for k, label in (("bare", "bare decode (ffmpeg)"), ("pass", "prism visual pass, no captures"),
                     ("pass_captures", "  same, capturing (production)"),
                     ("pass_full_decode", "  no captures, with deblocking"),
                     ("pyscenedetect", "pyscenedetect content")):
        print(f"{label:<28}{med[k]:>10.2f}{frames / med[k]:>9.0f}{peak[k]:>10.0f}")
    print()
    cap = results["pass_captures"][0]
    print(f"visual pass speed vs bare decode:     {med['bare'] / med['pass_captures']:.2f}x capturing "
          f"(target >= 0.9), {med['bare'] / med['pass']:.2f}x without captures")
    print(f"  captures: {cap['keyframe_candidates']} keyframe candidates + {cap['text_samples']} text samples, "
          f"{cap['capture_bytes'] / 1e6:.1f} MB ({cap['capture_bytes'] / 1e6 / (frames / 25 / 60):.1f} MB per "
          "minute at 25 fps)")
    print(f"  with deblocking (full decode):      {med['bare'] / med['pass_full_decode']:.2f}x")
    print(f"pyscenedetect time vs bare decode:    {med['pyscenedetect'] / med['bare']:.2f}x")
    print(f"visual pass speed vs pyscenedetect:   {med['pyscenedetect'] / med['pass']:.2f}x faster")

    long_run = run_child("pass_captures", long)
    short_peak = peak["pass_captures"]
    print(f"peak memory capturing, 10x longer title ({long_run['frames']} frames): "
          f"{long_run['peak_mb']:.0f} MB vs {short_peak:.0f} MB -> {long_run['peak_mb'] / short_peak:.2f}x"
          "  (target <= 1.2)")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
