"""Whisper's batch size on CPU: added memory, decode time, and whether the words change.

Transcribes one processed title's speech (its ``speech.parquet`` and first track's 16 kHz FLAC,
packed into windows as the ``transcript`` step does) with the bundled Whisper base (int8, CPU) at
each batch size asked for. Each size runs in a fresh process that loads the model, then samples
its RSS every 10 ms while it decodes, so a size's added memory is its own. Prints, per size, the
RSS added over the loaded model, the decode time, and how many words differ (text, start or end)
from the first size's transcript.

The title is any processed title folder, for example the one ``benchmarks/end_to_end.py
--minutes 10`` leaves under its work directory (``<workdir>/home/artifacts/titles/bench``), or
the demo's (``~/.prism`` after ``scripts/demo.sh``: ``artifacts/titles/<title>``).

    .venv/bin/python benchmarks/asr_batch.py TITLE_DIR [--sizes 8 4 2 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def measure(title_dir: Path, batch_size: int, model_cache: Path) -> dict:
    """One batch size, in this process (the child side)."""
    import pyarrow.parquet as pq

    from prism.audio.asr import FasterWhisper, bundled_model_dir, plan_chunks, speech_chunks, transcribe

    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 1e6

    peak = [0.0]

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.01)

    threading.Thread(target=sample, daemon=True).start()
    rows = pq.read_table(title_dir / "speech.parquet").to_pylist()
    track = min((r["track"] for r in rows), default=0)
    windows = plan_chunks([(r["start_s"], r["end_s"]) for r in rows if r["track"] == track], pack=True)
    model_dir = bundled_model_dir(model_cache)
    if model_dir is None:
        raise SystemExit("the bundled Whisper models are not installed (the 'demo' extra)")
    model = FasterWhisper(str(model_dir), device="cpu")
    time.sleep(0.2)
    loaded = rss_mb()
    peak[0] = loaded
    started = time.perf_counter()
    result = transcribe(model, speech_chunks(title_dir / "audio" / f"track{track}.16k.flac", windows),
                        batch_size=batch_size)
    return {"batch": batch_size, "windows": len(windows), "loaded_mb": round(loaded),
            "added_mb": round(peak[0] - loaded), "decode_s": round(time.perf_counter() - started, 1),
            "words": [[w.text, w.start_s, w.end_s] for s in result.segments for w in s.words]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("title_dir", type=Path)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 4, 2, 1])
    parser.add_argument("--model-cache", type=Path, default=Path(tempfile.gettempdir()) / "prism-bench-asr")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.title_dir, args.child, args.model_cache)))
        return

    results = []
    for size in args.sizes:
        out = subprocess.run([sys.executable, __file__, str(args.title_dir), "--child", str(size),
                              "--model-cache", str(args.model_cache)],
                             capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"batch {size}: {r['windows']} windows, +{r['added_mb']} MB over the loaded model "
              f"({r['loaded_mb']} MB), {r['decode_s']} s", flush=True)

    first = results[0]["words"]
    print(f"\n{'batch':>5} {'added MB':>9} {'decode s':>9} {'words':>6} {'differ':>7}")
    for r in results:
        words = r["words"]
        differ = sum(a != b for a, b in zip(first, words, strict=False)) + abs(len(first) - len(words))
        print(f"{r['batch']:>5} {r['added_mb']:>9} {r['decode_s']:>9} {len(r['words']):>6} {differ:>7}")


if __name__ == "__main__":
    main()
