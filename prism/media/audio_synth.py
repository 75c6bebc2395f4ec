"""Synthetic audio programmes with known content, for the audio tests and benchmarks:
espeak-ng speech, music-like beds (no speech), tones and silence, written losslessly."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from prism.media.synth import AUDIO_RATE, synthesize_speech

RATE = AUDIO_RATE


def write_audio(path: Path, samples: np.ndarray, rate: int = RATE, layout: str | None = None,
                codec: str = "flac") -> Path:
    """Write (channels, n) float samples with PyAV (FLAC 24-bit by default; ``codec="aac"`` for
    a delivery-like lossy track in .m4a/.mka)."""
    samples = np.atleast_2d(samples).astype(np.float32)
    layout = layout or {1: "mono", 2: "stereo", 6: "5.1"}[samples.shape[0]]
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if codec == "flac":
            stream.format = "s32"
        pos = 0
        while pos < samples.shape[1]:
            n = min(1024, samples.shape[1] - pos)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, pos:pos + n]), format="fltp",
                                               layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, pos, Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
            pos += n
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def tone(seconds: float, freq: float = 997.0, dbfs: float = 0.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def music_bed(seconds: float, dbfs: float = -20.0, rate: int = RATE) -> np.ndarray:
    """A music-like bed: a chord whose notes swell and change every second (no speech)."""
    n = int(seconds * rate)
    out = np.zeros(n)
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (164.8, 207.7, 246.9)]
    local = np.arange(rate) / rate
    env = np.sin(np.pi * local) ** 0.5
    for i in range(int(np.ceil(seconds))):
        a, b = i * rate, min(n, (i + 1) * rate)
        t = local[: b - a] + i
        out[a:b] = env[: b - a] * sum(np.sin(2 * np.pi * f * t) for f in chords[i % len(chords)])
    out /= np.abs(out).max() or 1
    return (10 ** (dbfs / 20) * out).astype(np.float32)


def speech(text: str, peak_dbfs: float = -3.0, voice: str = "en") -> np.ndarray:
    clip = synthesize_speech(text, voice)
    return (clip / (np.abs(clip).max() or 1) * 10 ** (peak_dbfs / 20)).astype(np.float32)


def place(total_s: float, *items: tuple[float, np.ndarray], rate: int = RATE) -> np.ndarray:
    """Mix clips into a silent programme of ``total_s`` seconds at their start times."""
    out = np.zeros(int(total_s * rate), np.float32)
    for start, clip in items:
        a = int(start * rate)
        clip = clip[: max(0, out.size - a)]
        out[a:a + clip.size] += clip
    return out
