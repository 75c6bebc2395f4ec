"""Hours of silence at low resolution, delivery to bundle: is peak memory flat in title length?

For each length asked for (default 1 and 3 hours) it generates (cached in the work directory) a
320x180 25 fps H.264 title whose picture alternates a moving test pattern and a Mandelbrot zoom
every 30 s (a cut every 30 s: 120 shots an hour; no text in the picture) and whose stereo AAC
audio is digital silence but for a 2 s tone at the start and another at the end. The video is a
60 s unit looped by remuxing (no re-encode); the audio is encoded once at full length (silence
costs the encoder little).

Each title runs in its own fresh process, the way ``prism run`` does (end_to_end.py's
``measure_run``: deliver, then ``run_title``, the whole graph on the embedded instance), while a
thread samples the process's RSS every 0.5 s. It prints per-stage wall and CPU time, each stage's
peak RSS (the samples taken while it ran), the RSS over the run, the QC findings and the
speech-side outputs of the title (all empty for silence), and the ratio of peak memory between
the longest and the shortest title.

    .venv/bin/python benchmarks/long_title.py [--hours 1 3] [--workdir DIR]
    .venv/bin/python benchmarks/long_title.py --hours 0.1 0.3      # smoke test (a few minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from end_to_end import duration_of, fresh_home, print_stages, run_child

WIDTH, HEIGHT, FPS = 320, 180, 25
UNIT_S = 60
TONE_S = 2.0
FF = ["ffmpeg", "-v", "error", "-y"]


def make_title(workdir: Path, seconds: int) -> Path:
    """The low-resolution title of ``seconds`` (cached): the 60 s video unit looped, full-length audio."""
    path = workdir / f"silence_{WIDTH}x{HEIGHT}_{seconds}s.mp4"
    if path.exists():
        return path
    unit = workdir / f"unit_{WIDTH}x{HEIGHT}_{UNIT_S}s.mp4"
    if not unit.exists():
        half = UNIT_S // 2
        # testsrc2 without its top rows (a running timecode: text) beside a Mandelbrot zoom.
        pattern = f"testsrc2=s={WIDTH}x{HEIGHT + 60}:r={FPS}:d={half},crop={WIDTH}:{HEIGHT}:0:60"
        zoom = f"mandelbrot=s={WIDTH}x{HEIGHT}:r={FPS}:end_scale=0.01,trim=duration={half}"
        subprocess.run([*FF, "-f", "lavfi", "-i", pattern, "-f", "lavfi", "-i", zoom,
                        "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]",
                        "-c:v", "libx264", "-preset", "veryfast", "-g", "250", "-pix_fmt", "yuv420p",
                        str(unit)], check=True)
    audio = workdir / f"silence_{seconds}s.m4a"
    if not audio.exists():
        tone = f"sine=f={{f}}:d={TONE_S}:r=48000,volume=0.25,aformat=channel_layouts=stereo"
        graph = (f"{tone.format(f=440)}[a];anullsrc=r=48000:cl=stereo:d={seconds - 2 * TONE_S}[b];"
                 f"{tone.format(f=660)}[c];[a][b][c]concat=n=3:v=0:a=1[out]")
        subprocess.run([*FF, "-filter_complex", graph, "-map", "[out]", "-c:a", "aac", "-b:a", "96k",
                        str(audio.with_suffix(".tmp.m4a"))], check=True)
        audio.with_suffix(".tmp.m4a").rename(audio)
    loops = -(-seconds // UNIT_S)
    tmp = path.with_suffix(".tmp.mp4")
    subprocess.run([*FF, "-stream_loop", str(loops - 1), "-i", str(unit), "-i", str(audio), "-map", "0:v",
                    "-map", "1:a", "-c", "copy", "-t", str(seconds), str(tmp)], check=True)
    tmp.rename(path)
    return path


def stage_peaks(run: dict) -> dict[str, float]:
    """Each stage's peak RSS: the highest sample taken while it was running."""
    peaks: dict[str, float] = {}
    for _, mb, running in run["rss"]:
        for step in running:
            peaks[step] = max(peaks.get(step, 0.0), mb)
    return peaks


def print_rss(run: dict, lines: int = 24) -> None:
    samples = run["rss"]
    if not samples:
        return
    every = max(1, len(samples) // lines)
    print(f"\nRSS over the run (every {every * 0.5:.0f} s; {len(samples)} samples of 0.5 s)")
    print(f"  {'t s':>8}{'RSS MB':>9}  running")
    for t, mb, running in samples[::every] + [samples[-1]]:
        print(f"  {t:>8.0f}{mb:>9.0f}  {', '.join(running)}")
    peaks = stage_peaks(run)
    print("\npeak RSS while each stage ran (MB)")
    for step in sorted(peaks, key=lambda s: run["stages"].get(s, {}).get("start", 0.0)):
        print(f"  {step:<28}{peaks[step]:>8.0f}")


def outputs_of(home: Path) -> dict:
    """What the title's silence turned into: QC findings by check, speech-side row counts."""
    title = home / "artifacts" / "titles" / "bench"

    def rows(name: str) -> int | None:
        return pq.read_metadata(title / name).num_rows if (title / name).exists() else None

    qc = pq.read_table(title / "qc.parquet", columns=["check", "severity"]).to_pylist()
    summary = json.loads((title / "qc_summary.json").read_text())
    return {
        "qc_by_check": dict(Counter(f"{r['check']} ({r['severity']})" for r in qc)),
        "qc_status": summary.get("status"),
        "speech_segments": rows("speech.parquet"), "transcript_segments": rows("transcript.parquet"),
        "speaker_turns": rows("speakers.parquet"), "shots": rows("shots.parquet"),
        "keyframes": rows("keyframes.parquet"), "onscreen_text": rows("onscreen_text.parquet"),
        "bundle_files": sum(1 for p in (home / "artifacts" / "export" / "bench").rglob("*") if p.is_file())
        if (home / "artifacts" / "export" / "bench").exists() else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "prism-bench-long")
    args = parser.parse_args()
    if not shutil.which("ffmpeg"):
        raise SystemExit("the ffmpeg binary is needed (generating the titles)")
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ["PRISM_MODEL_CACHE_DIR"] = str(workdir / "models")  # a worker keeps its model cache
    medias = {}
    for hours in args.hours:
        print(f"generating / reusing the {hours:g} h title ...", flush=True)
        medias[hours] = make_title(workdir, int(round(hours * 3600)))
    load = os.getloadavg()
    print(f"cpus usable: {len(os.sched_getaffinity(0))}; load average before: {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}", flush=True)

    summary = []
    for media in medias.values():
        duration = duration_of(media)
        print(f"\n== {media.name}: {duration / 3600:.2f} h, {media.stat().st_size / 1e6:.0f} MB, "
              f"{WIDTH}x{HEIGHT} H.264 {FPS} fps, AAC stereo: silence with a {TONE_S:g} s tone at each end",
              flush=True)
        home = fresh_home(workdir)
        live = workdir / f"rss_{media.stem}.jsonl"  # the samples as they are taken (a long run)
        live.unlink(missing_ok=True)
        print(f"RSS samples as they are taken: {live}", flush=True)
        run = run_child("run", media, home, env={"BENCH_RSS_LOG": str(live)})
        if not run["ok"]:
            raise SystemExit(f"the run failed: {run['failures']}")
        print_stages("per stage (branches overlapped; cpu = the whole process's during the stage)", [run])
        print_rss(run)
        outputs = outputs_of(home)
        print(f"\noutputs: {json.dumps(outputs, indent=1)}")
        load = os.getloadavg()
        print(f"\nwhole title (process, imports included): {run['process_s']:.1f} s wall, {run['cpu_s']:.1f} s "
              f"CPU, peak {run['peak_mb']:.0f} MB, {duration / run['process_s']:.1f}x real time; "
              f"load average now {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
        summary.append({"hours": duration / 3600, "process_s": run["process_s"], "cpu_s": run["cpu_s"],
                        "peak_mb": run["peak_mb"], "outputs": outputs, "run": run})

    print(f"\n{'hours':>6}{'title s':>9}{'CPU s':>9}{'x real':>8}{'peak MB':>9}")
    for row in summary:
        print(f"{row['hours']:>6.2f}{row['process_s']:>9.1f}{row['cpu_s']:>9.1f}"
              f"{row['hours'] * 3600 / row['process_s']:>8.1f}{row['peak_mb']:>9.0f}")
    if len(summary) > 1:
        print(f"peak memory {summary[-1]['hours']:.2f} h vs {summary[0]['hours']:.2f} h: "
              f"{summary[-1]['peak_mb'] / summary[0]['peak_mb']:.2f}x  (flat: <= ~1.1)")
    (workdir / "results.json").write_text(json.dumps(summary, indent=1))
    print(f"all measurements: {workdir / 'results.json'}")


if __name__ == "__main__":
    main()
