"""Audio pass speed on CPU: real-time factors (processing time / audio duration) of the
one-pass decode + loudness meter, Silero VAD and Whisper, and the speed-up of VAD-batched
transcription over plain sequential 30-second windows, measured side by side in one run.

A generated programme of ``--minutes`` (default 5): English espeak-ng sentences with
pauses, music-like beds and silent stretches, as a stereo 48 kHz AAC track. Both
transcription modes use the same bundled Whisper model (demo extra) on the CPU; word
error rate and text emitted outside speech are printed for both, so speed is not
bought with quality.

    .venv/bin/python benchmarks/audio_pass.py [--minutes 5] [--model DIR] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from prism.audio.asr import FasterWhisper, bundled_model_dir, plan_chunks, speech_chunks, transcribe
from prism.audio.decode import decode_tracks, read_speech_audio
from prism.audio.metrics import word_error_rate as wer
from prism.audio.vad import detect_speech, load_vad_model
from prism.media.audio_synth import RATE, music_bed, place, speech, write_audio

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Every title becomes shots, keyframes and transcripts.",
    "Loudness is measured over the whole programme.",
    "The night shift starts at ten o'clock sharp.",
    "She opened the door and looked outside for a long time.",
    "We will meet again at the station tomorrow morning.",
]


def programme(minutes: float) -> tuple[np.ndarray, list[tuple[float, float, str]], list[tuple[float, float]]]:
    total = minutes * 60
    clips = [speech(s) for s in SENTENCES]
    items, spoken, quiet = [], [], []
    t, i = 1.0, 0
    while t < total - 8:
        clip, text = clips[i % len(clips)], SENTENCES[i % len(SENTENCES)]
        items.append((t, clip))
        spoken.append((t, t + clip.size / RATE, text))
        t += clip.size / RATE + 0.8
        i += 1
        if i % 4 == 0:  # a music bed, then a silent stretch
            items.append((t, music_bed(6, -16)))
            quiet.append((t, t + 6))
            t += 6.5
            quiet.append((t, t + 5))
            t += 5.5
    return place(total, *items), spoken, quiet


def outside_speech(segments, quiet) -> int:
    """Segments overlapping a music bed or a silent stretch by more than a second."""
    return sum(1 for s in segments if any(min(b, s.end_s) - max(a, s.start_s) > 1.0 for a, b in quiet))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--model", help="CTranslate2 Whisper dir (default: the bundled demo model)")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="prism-audio-bench-") as tmp:
        work = Path(tmp)
        print(f"generating a {args.minutes:g}-minute programme (espeak-ng speech, music beds, silence)…")
        mono, spoken, quiet = programme(args.minutes)
        media = write_audio(work / "programme.m4a", np.stack([mono, mono]), codec="aac")
        duration = mono.size / RATE
        reference = " ".join(text for _, _, text in spoken)
        speech_s = sum(b - a for a, b, _ in spoken)
        print(f"track: {duration:.0f} s, {speech_s:.0f} s of speech in {len(spoken)} sentences, "
              "AAC stereo 48 kHz\n")

        t0 = time.perf_counter()
        with av.open(str(media)) as container:
            for _ in container.decode(audio=0):
                pass
        bare = time.perf_counter() - t0
        t0 = time.perf_counter()
        (decoded,) = decode_tracks(str(media), work)
        one_pass = time.perf_counter() - t0
        t0 = time.perf_counter()
        meter = decoded.meter
        figures = (meter.integrated_lufs(), meter.loudness_range(), meter.short_term())
        summary = time.perf_counter() - t0
        flac = work / "track0.16k.flac"

        load_vad_model()
        t0 = time.perf_counter()
        segments = detect_speech(read_speech_audio(flac), decoded.duration_s)
        vad = time.perf_counter() - t0

        model_dir = args.model or str(bundled_model_dir(work / "models"))
        model = FasterWhisper(model_dir, device="cpu")
        spans = [(s.start_s, s.end_s) for s in segments]
        windows = plan_chunks(spans, pack=True)
        t0 = time.perf_counter()
        batched = transcribe(model, speech_chunks(flac, windows), language="en", batch_size=args.batch_size)
        t_batched = time.perf_counter() - t0
        unpacked_windows = plan_chunks(spans, pack=False)
        t0 = time.perf_counter()
        unpacked = transcribe(model, speech_chunks(flac, unpacked_windows), language="en",
                              batch_size=args.batch_size)
        t_unpacked = time.perf_counter() - t0

        audio16k = np.concatenate(list(read_speech_audio(flac)))
        t0 = time.perf_counter()
        sequential = model.transcribe_windows(audio16k, language="en")
        t_sequential = time.perf_counter() - t0

    def rtf(seconds: float) -> str:
        return f"{seconds:7.2f} s   RTF {seconds / duration:.4f}   ({duration / seconds:6.1f}x real time)"

    print(f"model: {Path(model_dir).name} (faster-whisper, CPU {model.compute_type}), batch {args.batch_size}")
    print(f"integrated {figures[0]:.1f} LUFS, LRA {figures[1]:.1f} LU; "
          f"{len(segments)} speech segments → {len(windows)} packed windows "
          f"({len(unpacked_windows)} unpacked)\n")
    print(f"bare PyAV decode (reference)          {rtf(bare)}")
    print(f"one-pass decode + meter + 16 kHz FLAC {rtf(one_pass)}")
    print(f"loudness figures from 100 ms blocks   {rtf(summary)}")
    print(f"Silero VAD over the 16 kHz FLAC       {rtf(vad)}")
    print(f"Whisper, VAD speech packed + batched  {rtf(t_batched)}")
    print(f"Whisper, VAD speech unpacked, batched {rtf(t_unpacked)}")
    print(f"Whisper, sequential 30 s windows      {rtf(t_sequential)}")
    print(f"\nspeed-up of VAD-batched (packed) over sequential windows: {t_sequential / t_batched:.2f}x "
          f"(unpacked: {t_sequential / t_unpacked:.2f}x)")
    runs = (("packed", batched.segments), ("unpacked", unpacked.segments), ("sequential", sequential))
    for name, segs in runs:
        text = " ".join(s.text for s in segs)
        print(f"{name:>10}: WER {wer(reference, text):.3f}, "
              f"segments overlapping music/silence by > 1 s: {outside_speech(segs, quiet)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
