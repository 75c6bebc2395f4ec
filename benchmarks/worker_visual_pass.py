"""The visual pass on a GPU worker: Prism's real pass (PyAV, H.264) on the worker's cores and on
NVDEC, beside bare decodes of the same file, in one run.

docs/performance.md projects a 2-hour title on one GPU worker as decode-bound. This measures the
decode and the pass themselves on the worker (gpu_path.py has the models' throughputs):

  decode        PyAV, every frame, the stream's software decoder on every core (``thread_type``
                AUTO), nothing done with the frames: the physical limit of the CPU path
  decode-nolf   the same with the in-loop deblocking filter skipped (what the pass does)
  pass          prism.visual.decode.run_pass as the ``frame_signals`` asset runs it: signals,
                sprites, keyframe candidates and on-screen text samples captured at full size
  nvdec         PyAV with FFmpeg's ``h264_cuvid`` (NVDEC), frames copied to host memory as NV12
  nvdec-pass    run_pass(decoder="nvdec") (h264_cuvid, decoding ahead on a thread)
  nvdec-x2/x3   two or three NVDEC decodes of the file at once (separate processes): whether the
                worker's decode capacity scales past one session (frames/s is their sum)
  decode+nvdec  a CPU decode and an NVDEC decode at once
  pass-x2, nvdec-pass-x2/x3
                prism.visual.segments.run_pass_segmented: the pass in 2 or 3 time segments side by
                side (each its own process and decode session), joined into one pass's outputs

Titles: ``--unit`` (a 1080p25 H.264 stretch; benchmarks/end_to_end.py writes one, ~0.8 Mb/s
of synthetic pictures) looped by remuxing to ``--minutes``, and a master-like variant of it
re-encoded here with film grain at a mezzanine's 25 Mb/s (libx264, High profile, GOP 250: the
bitrate is what makes H.264 decoding slow) looped the same way. Each measurement runs in its own process, rounds
interleaved. Needs PyAV, numpy, pyarrow, Pillow, pydantic and universal_pathlib beside the
repository (no FFmpeg binary). Prints a table and the 2-hour projection (180,000 frames) and
writes $OUT/worker_visual_pass.json when OUT is set.

    python benchmarks/worker_visual_pass.py --unit unit_1080p_60s.mp4 [--minutes 5] [--rounds 1]
    python benchmarks/worker_visual_pass.py --unit unit.mp4 --minutes 0.2 --skip nvdec nvdec-pass  # CPU smoke
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TWO_HOURS_FRAMES = 2 * 3600 * 25
KINDS = ("decode", "decode-nolf", "pass", "nvdec", "nvdec-pass", "nvdec-x2", "nvdec-x3", "decode+nvdec",
         "pass-x2", "nvdec-pass-x2", "nvdec-pass-x3")
SEGMENTED = {"pass-x2": ("software", 2), "nvdec-pass-x2": ("nvdec", 2), "nvdec-pass-x3": ("nvdec", 3)}
# Several decodes of the whole file at once, each its own process: how far the worker's decode
# capacity goes beyond one session (the H100 and H200 have 7 NVDEC engines).
CONCURRENT = {"nvdec-x2": ("nvdec", "nvdec"), "nvdec-x3": ("nvdec", "nvdec", "nvdec"),
              "decode+nvdec": ("decode", "nvdec")}
NVDEC = "h264_cuvid"


# -- the titles ---------------------------------------------------------------------
def loop_by_remux(unit: Path, out: Path, seconds: float) -> Path:
    """``unit`` repeated to at least ``seconds`` by copying its packets with shifted timestamps."""
    import av

    with av.open(str(unit)) as probe:
        stream = probe.streams.video[0]
        span = stream.duration or int(float(probe.duration) / 1e6 / stream.time_base)
        loops = max(1, round(seconds / float(span * stream.time_base)))
    tmp = out.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as output:
        target = None
        for k in range(loops):
            with av.open(str(unit)) as source:
                stream = source.streams.video[0]
                if target is None:
                    target = output.add_stream_from_template(stream)
                for packet in source.demux(stream):
                    if packet.dts is None:
                        continue
                    packet.pts += k * span
                    packet.dts += k * span
                    packet.stream = target
                    output.mux(packet)
    tmp.rename(out)
    return out


def grain_variant(unit: Path, out: Path, mbit_s: int = 25) -> Path:
    """The unit re-encoded with film grain: a master's bitrate and decode cost, same pictures."""
    import av
    import numpy as np

    rng = np.random.default_rng(2026)
    tmp = out.with_suffix(".tmp.mp4")
    with av.open(str(unit)) as source, av.open(str(tmp), "w") as output:
        src = source.streams.video[0]
        dst = output.add_stream("libx264", rate=src.average_rate)
        dst.width, dst.height, dst.pix_fmt = src.width, src.height, "yuv420p"
        dst.bit_rate = mbit_s * 1_000_000  # a mezzanine's rate; grain keeps x264 from going under it
        dst.options = {"preset": "veryfast",
                       "x264-params": f"keyint=250:min-keyint=25:vbv-maxrate={mbit_s * 1200}"
                                      f":vbv-bufsize={mbit_s * 2000}"}
        dst.thread_type = "AUTO"
        grains = None
        for i, frame in enumerate(source.decode(src)):
            planes = frame.to_ndarray(format="yuv420p")
            if grains is None:  # a few grain fields, cycled: noise x264 cannot predict away
                grains = [rng.normal(0, 3, planes.shape).astype(np.int16) for _ in range(7)]
            noisy = np.clip(planes.astype(np.int16) + grains[i % len(grains)], 0, 255).astype(np.uint8)
            new = av.VideoFrame.from_ndarray(noisy, format="yuv420p")
            new.pts, new.time_base = frame.pts, frame.time_base
            for packet in dst.encode(new):
                output.mux(packet)
        for packet in dst.encode(None):
            output.mux(packet)
    tmp.rename(out)
    return out


def title_info(path: Path) -> dict:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        seconds = float(container.duration) / 1e6
        return {"file": path.name, "seconds": round(seconds, 1), "frames": stream.frames,
                "codec": stream.codec_context.name, "profile": stream.codec_context.profile,
                "mbit_s": round(path.stat().st_size * 8 / seconds / 1e6, 2),
                "size": f"{stream.width}x{stream.height}"}


# -- one measurement (a child process) ------------------------------------------------
@contextlib.contextmanager
def _path_of(path: str):
    yield path


def measure(kind: str, media: str) -> dict:
    import av

    sys.path.insert(0, str(REPO))
    started, cpu0 = time.perf_counter(), time.process_time()
    frames, pix_fmt = 0, ""
    if kind in ("decode", "decode-nolf", "nvdec"):
        with av.open(media) as container:
            stream = container.streams.video[0]
            if kind == "nvdec":
                context = av.CodecContext.create(NVDEC, "r")
                context.extradata = stream.codec_context.extradata
                context.width, context.height = stream.codec_context.width, stream.codec_context.height
                context.open()
                decoded = (f for packet in container.demux(stream) for f in context.decode(packet))
            else:
                stream.thread_type = "AUTO"
                if kind == "decode-nolf":
                    stream.codec_context.options = {"skip_loop_filter": "all"}
                decoded = container.decode(stream)
            for frame in decoded:
                frames += 1
                pix_fmt = frame.format.name
    else:
        from prism.visual.captures import CaptureOptions
        from prism.visual.decode import run_pass
        from prism.visual.segments import run_pass_segmented

        decoder, segments = SEGMENTED.get(kind, ("nvdec" if kind == "nvdec-pass" else "software", 1))
        with tempfile.TemporaryDirectory() as work:
            work = Path(work)
            capture = CaptureOptions(keyframe_candidates=work / "keyframe_candidates.parquet",
                                     text_samples=work / "text_samples.parquet", sample_interval_s=1.0)
            if segments == 1:
                summary, _ = run_pass(media, work / "frame_signals.parquet", work / "sprites", capture=capture,
                                      decoder=decoder)
            else:
                with av.open(media) as container:
                    duration = float(container.duration) / 1e6
                summary, _ = run_pass_segmented(functools.partial(_path_of, media),
                                                work / "frame_signals.parquet", work / "sprites",
                                                segments=segments, duration_s=duration, capture=capture,
                                                decoder=decoder)
            if decoder == "nvdec" and not summary.decoder.startswith(NVDEC):
                raise SystemExit(f"the pass did not decode on NVDEC: {summary.decoder_note}")
            if summary.segments != segments:
                raise SystemExit(f"{summary.segments} segments, not {segments}")
            frames, pix_fmt = summary.frame_count, summary.pix_fmt
    wall = time.perf_counter() - started
    # VmHWM, not ru_maxrss: Linux carries the parent's peak across fork and exec into the latter.
    hwm_kb = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                  if line.startswith("VmHWM:"))
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the segments' processes
    cpu = time.process_time() - cpu0 + children.ru_utime + children.ru_stime
    return {"kind": kind, "frames": frames, "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 1), "fps": round(frames / wall, 1),
            "pix_fmt": pix_fmt, "peak_mb": round(hwm_kb / 1024)}


def run_child(kind: str, media: Path) -> dict:
    if kind in CONCURRENT:
        return run_concurrent(kind, media)
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(media)],
                          capture_output=True, text=True)
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"kind": kind, "error": last[:300]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_concurrent(kind: str, media: Path) -> dict:
    """The decodes of ``CONCURRENT[kind]`` started together; frames/s is all their frames over
    the wall time until the last one ends."""
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, __file__, "--child", k, str(media)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in CONCURRENT[kind]]
    outputs = [p.communicate() for p in procs]
    wall = time.perf_counter() - started
    if any(p.returncode for p in procs):
        err = next(e for p, (_, e) in zip(procs, outputs, strict=True) if p.returncode)
        return {"kind": kind, "error": (err.strip().splitlines() or ["(no output)"])[-1][:300]}
    runs = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    frames = sum(r["frames"] for r in runs)
    return {"kind": kind, "frames": frames, "wall_s": round(wall, 2),
            "cpu_s": round(sum(r["cpu_s"] for r in runs), 1),
            "fps": round(frames / wall, 1), "pix_fmt": "+".join(r["pix_fmt"] for r in runs),
            "peak_mb": max(r["peak_mb"] for r in runs), "each_fps": [r["fps"] for r in runs]}


# -- the report ----------------------------------------------------------------------
def machine() -> dict:
    info = {"python": platform.python_version(), "cores": os.cpu_count()}
    try:
        import av

        info["pyav"] = av.__version__
        info["ffmpeg"] = av.library_versions.get("libavcodec")
    except ImportError:
        pass
    cpu = Path("/proc/cpuinfo")
    if cpu.exists():
        names = [line.split(":", 1)[1].strip() for line in cpu.read_text().splitlines()
                 if line.startswith("model name")]
        info["cpu"] = names[0] if names else None
    try:
        info["gpu"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                                     capture_output=True, text=True, timeout=20).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        info["gpu"] = None
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("KIND", "MEDIA"), help=argparse.SUPPRESS)
    parser.add_argument("--unit", type=Path, help="a 1080p25 H.264 stretch (benchmarks/end_to_end.py's unit)")
    parser.add_argument("--minutes", type=float, default=5.0, help="each title's length")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--skip", nargs="*", default=[], choices=KINDS, help="measurements to leave out")
    parser.add_argument("--no-grain", action="store_true", help="only the unit as it is")
    parser.add_argument("--only-grain", action="store_true", help="only the master-like variant")
    parser.add_argument("--budget-s", type=float, default=420.0, help="start no measurement after this")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    if args.unit is None:
        parser.error("--unit is required")
    started = time.perf_counter()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="worker-pass-"))
    work.mkdir(parents=True, exist_ok=True)
    titles = {"synthetic": loop_by_remux(args.unit, work / "synthetic.mp4", args.minutes * 60)}
    if not args.no_grain:
        t = time.perf_counter()
        grain_unit = grain_variant(args.unit, work / "grain_unit.mp4")
        print(f"grain variant encoded in {time.perf_counter() - t:.1f} s", flush=True)
        titles["grain"] = loop_by_remux(grain_unit, work / "grain.mp4", args.minutes * 60)
    if args.only_grain:
        titles.pop("synthetic")
    results = {"machine": machine(), "titles": {name: title_info(p) for name, p in titles.items()}, "runs": []}
    print(json.dumps(results["machine"]), flush=True)
    for name, info in results["titles"].items():
        print(f"{name}: {info}", flush=True)
    kinds = [k for k in KINDS if k not in args.skip]
    for round_ in range(args.rounds):
        for name, path in titles.items():
            for kind in kinds:
                if time.perf_counter() - started > args.budget_s:
                    print(f"budget of {args.budget_s:.0f} s reached: {kind} on {name} not started", flush=True)
                    continue
                run = {"title": name, "round": round_, **run_child(kind, path)}
                results["runs"].append(run)
                print(json.dumps(run), flush=True)

    print(f"\n{'title':10} {'measurement':12} {'frames/s':>9} {'x decode':>9} {'CPU s':>7} {'peak MB':>8} "
          f"{'2-hour title':>13}")
    summary = {}
    for name in titles:
        fps = {}
        for kind in kinds:
            runs = [r for r in results["runs"] if r["title"] == name and r["kind"] == kind and "fps" in r]
            if not runs:
                failed = [r for r in results["runs"] if r["title"] == name and r["kind"] == kind]
                if failed:
                    print(f"{name:10} {kind:12} failed: {failed[0].get('error')}")
                continue
            fps[kind] = statistics.median(r["fps"] for r in runs)
            base = fps.get("decode")
            ratio = f"{fps[kind] / base:.2f}" if base else "-"
            print(f"{name:10} {kind:12} {fps[kind]:9.1f} {ratio:>9} {runs[0]['cpu_s']:7.1f} "
                  f"{runs[0]['peak_mb']:8d} {TWO_HOURS_FRAMES / fps[kind]:11.0f} s")
        summary[name] = fps
    results["median_fps"] = summary
    results["wall_s"] = round(time.perf_counter() - started, 1)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "worker_visual_pass.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
