"""What the diarization turns mean for the rest of a title: words and segments attributed to
speakers, voice profiles (F0 with librosa's pYIN, speaking rate), and the speakers artifacts.

- Attribution: a word gets the speaker whose turns overlap it most (a word in no turn gets
  the nearest turn's speaker within ``NEAREST_S``, else none). A transcript segment is split
  where the speaker changes between its words, so every segment has one speaker.
- F0: pYIN over at most ``PROFILE_BUDGET_S`` seconds per speaker (the longest turns), at 8 kHz:
  pYIN is slow (about real time on one core at 16 kHz), and 20 s of a voice fix its median and
  range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from prism.audio.asr import TranscriptSegment, Word
from prism.audio.decode import SPEECH_RATE
from prism.audio.diarize import Turn, samples_in_turns

NEAREST_S = 0.5
PROFILE_BUDGET_S = 20.0
PYIN_RATE = 8_000  # F0 <= 500 Hz needs no more; pYIN's cost falls with the rate
F0_MIN_HZ = 60.0
F0_MAX_HZ = 500.0

SPEAKERS_SCHEMA = pa.schema([
    pa.field("track", pa.int32(), nullable=False),
    pa.field("start_s", pa.float64(), nullable=False),
    pa.field("end_s", pa.float64(), nullable=False),
    pa.field("speaker", pa.string(), nullable=False),
    pa.field("overlap", pa.bool_(), nullable=False),
])


# One row per (track, speaker): what the speakers asset learned about each voice. The embedding
# (the backend's centroid) stays in the media account: speaker_voices.parquet is not bundled.
VOICES_SCHEMA = pa.schema([
    pa.field("track", pa.int32(), nullable=False),
    pa.field("speaker", pa.string(), nullable=False),
    pa.field("speaking_s", pa.float64(), nullable=False),
    pa.field("turns", pa.int32(), nullable=False),
    pa.field("first_s", pa.float64(), nullable=False),
    pa.field("overlap_s", pa.float64(), nullable=False),
    pa.field("f0_median_hz", pa.float64()),
    pa.field("f0_p10_hz", pa.float64()),
    pa.field("f0_p90_hz", pa.float64()),
    pa.field("embedding", pa.list_(pa.float32()), nullable=False),
])


def speakers_table(rows: Sequence[dict]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=SPEAKERS_SCHEMA)


def turns_of(table: pa.Table, track: int) -> list[Turn]:
    return [Turn(r["start_s"], r["end_s"], r["speaker"], bool(r["overlap"]))
            for r in table.to_pylist() if r["track"] == track]


# -- attribution -----------------------------------------------------------------

def speaker_at(turns: Sequence[Turn], start_s: float, end_s: float) -> str | None:
    """The speaker whose turns overlap [start, end] most; else the nearest within NEAREST_S."""
    overlap: dict[str, float] = {}
    nearest, nearest_d = None, NEAREST_S
    for t in turns:
        o = min(end_s, t.end_s) - max(start_s, t.start_s)
        if o > 0:
            overlap[t.speaker] = overlap.get(t.speaker, 0.0) + o
        else:
            d = max(t.start_s - end_s, start_s - t.end_s)
            if d <= nearest_d:
                nearest, nearest_d = t.speaker, d
    if overlap:
        return max(overlap.items(), key=lambda kv: kv[1])[0]
    return nearest


def attribute(segments: Sequence[TranscriptSegment], turns: Sequence[Turn]) -> list[TranscriptSegment]:
    """Segments with a speaker on every word, split where the speaker changes between words."""
    if not turns:
        return list(segments)
    out: list[TranscriptSegment] = []
    for seg in segments:
        if not seg.words:
            out.append(replace(seg, speaker=speaker_at(turns, seg.start_s, seg.end_s)))
            continue
        words = [replace(w, speaker=speaker_at(turns, w.start_s, w.end_s)) for w in seg.words]
        runs: list[list[Word]] = []
        for w in words:
            # A word with no speaker stays with the run it is in.
            current = _run_speaker(runs[-1]) if runs else None
            if runs and (w.speaker is None or current is None or w.speaker == current):
                runs[-1].append(w)
            else:
                runs.append([w])
        if len(runs) == 1:
            out.append(replace(seg, words=tuple(words), speaker=_run_speaker(words)))
            continue
        for i, run in enumerate(runs):
            start = seg.start_s if i == 0 else run[0].start_s
            end = seg.end_s if i == len(runs) - 1 else run[-1].end_s
            out.append(replace(seg, start_s=start, end_s=end, text=_join(run), words=tuple(run),
                               speaker=_run_speaker(run)))
    return out


def _run_speaker(words: Sequence[Word]) -> str | None:
    return next((w.speaker for w in words if w.speaker), None)


def _join(words: Sequence[Word]) -> str:
    return " ".join(w.text.strip() for w in words if w.text.strip())


# -- profiles ------------------------------------------------------------------

@dataclass(frozen=True)
class VoiceProfile:
    f0_median_hz: float | None
    f0_p10_hz: float | None
    f0_p90_hz: float | None
    voiced_s: float  # seconds pYIN found voiced in the analysed audio
    analysed_s: float


def _profile_turns(turns: Sequence[Turn], budget_s: float) -> list[Turn]:
    """The longest turns of one speaker up to ``budget_s`` seconds (a long turn is cut)."""
    chosen, total = [], 0.0
    for t in sorted(turns, key=lambda t: -t.duration_s):
        if total >= budget_s:
            break
        take = min(t.duration_s, budget_s - total)
        chosen.append(Turn(t.start_s, t.start_s + take, t.speaker))
        total += take
    return chosen


def voice_profiles(flac: Path | str, turns: Sequence[Turn],
                   budget_s: float = PROFILE_BUDGET_S) -> dict[str, VoiceProfile]:
    """Median F0 and its 10-90 % range per speaker (librosa pYIN), from up to ``budget_s``
    seconds of each speaker's longest non-overlapped turns, read in one pass over the FLAC."""
    import librosa

    by_speaker: dict[str, list[Turn]] = {}
    for t in turns:
        if not t.overlap:
            by_speaker.setdefault(t.speaker, []).append(t)
    chosen = [t for ts in by_speaker.values() for t in _profile_turns(ts, budget_s)]
    f0s: dict[str, list[np.ndarray]] = {s: [] for s in by_speaker}
    analysed: dict[str, float] = {s: 0.0 for s in by_speaker}
    from scipy.signal import resample_poly

    hop = 160  # 20 ms at 8 kHz
    for turn, samples in samples_in_turns(flac, chosen):
        analysed[turn.speaker] += samples.size / SPEECH_RATE
        if samples.size < 2048:
            continue
        low = resample_poly(samples.astype(np.float32), PYIN_RATE, SPEECH_RATE).astype(np.float32)
        f0, voiced, _ = librosa.pyin(low, fmin=F0_MIN_HZ, fmax=F0_MAX_HZ, sr=PYIN_RATE,
                                     frame_length=512, hop_length=hop)
        f0s[turn.speaker].append(f0[voiced & np.isfinite(f0)])
    out = {}
    for speaker in by_speaker:
        values = np.concatenate(f0s[speaker]) if f0s[speaker] else np.zeros(0)
        if values.size:
            p10, med, p90 = (round(float(x), 1) for x in np.percentile(values, [10, 50, 90]))
        else:
            p10 = med = p90 = None
        out[speaker] = VoiceProfile(med, p10, p90, round(values.size * hop / PYIN_RATE, 2),
                                    round(analysed[speaker], 2))
    return out


def speaking_rates(segments: Sequence[TranscriptSegment], turns: Sequence[Turn]) -> dict[str, dict]:
    """Words per second of speaking time, and words, per speaker (from attributed words)."""
    words: dict[str, int] = {}
    for seg in segments:
        for w in seg.words or ():
            if w.speaker:
                words[w.speaker] = words.get(w.speaker, 0) + 1
        if not seg.words and seg.speaker:
            words[seg.speaker] = words.get(seg.speaker, 0) + len(seg.text.split())
    time_of: dict[str, float] = {}
    for t in turns:
        time_of[t.speaker] = time_of.get(t.speaker, 0.0) + t.duration_s
    return {s: {"words": words.get(s, 0),
                "words_per_s": round(words.get(s, 0) / time_of[s], 2) if time_of[s] > 0 else None}
            for s in time_of}


def speaker_stats(turns: Sequence[Turn]) -> dict[str, dict]:
    """Speaking time, turns and first appearance per speaker, in S1, S2… order."""
    out: dict[str, dict] = {}
    for t in turns:
        entry = out.setdefault(t.speaker, {"speaking_s": 0.0, "turns": 0, "first_s": t.start_s,
                                           "overlap_s": 0.0})
        entry["speaking_s"] += t.duration_s
        entry["turns"] += 1
        if t.overlap:
            entry["overlap_s"] += t.duration_s
    for entry in out.values():
        entry["speaking_s"] = round(entry["speaking_s"], 2)
        entry["overlap_s"] = round(entry["overlap_s"], 2)
        entry["first_s"] = round(entry["first_s"], 2)
    return dict(sorted(out.items(), key=lambda kv: kv[1]["first_s"]))
