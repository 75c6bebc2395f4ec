"""From Prism's artifacts to the template's inputs, and the template's events as a table.

The words come from ``transcript.parquet`` (a speaker on every word), the cuts from
``shots.parquet``, the frame axis from ``probe.json``/``visual_pass.json`` (constant rate) or the
frames' presentation times (``frame_signals.time_s``, variable rate).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from prism.audio.asr import Word
from prism.subtitles.clock import FrameClock
from prism.subtitles.profile import StyleProfile
from prism.subtitles.template import SubtitleEvent, SubtitleTemplate
from prism.subtitles.timecode import FrameRate

# Audio-only titles have no frames: the template is timed on a nominal 25 fps axis.
AUDIO_ONLY_RATE = FrameRate.of(25)

WORD = pa.struct([("start_s", pa.float64()), ("end_s", pa.float64()), ("text", pa.string()),
                  ("probability", pa.float32()), ("speaker", pa.string())])
EVENTS_SCHEMA = pa.schema([
    pa.field("track", pa.int32(), nullable=False),
    pa.field("language", pa.string()),
    pa.field("event", pa.int32(), nullable=False),
    pa.field("in_frame", pa.int64(), nullable=False),
    pa.field("out_frame", pa.int64(), nullable=False),
    pa.field("start_s", pa.float64(), nullable=False),
    pa.field("end_s", pa.float64(), nullable=False),
    pa.field("lines", pa.list_(pa.string()), nullable=False),
    pa.field("speakers", pa.list_(pa.string()), nullable=False),
    pa.field("speech_start_s", pa.float64(), nullable=False),
    pa.field("speech_end_s", pa.float64(), nullable=False),
    pa.field("words", pa.list_(WORD)),
])


def title_rate(probe: dict) -> FrameRate:
    """The title's frame rate as a broadcast rate (the declared one when the stream has it)."""
    video = probe.get("video") or {}
    fps = video.get("nominal_fps") or video.get("fps")
    return FrameRate.of(float(fps)) if fps else AUDIO_ONLY_RATE


def title_clock(probe: dict, visual_pass: dict, frame_times: Sequence[float] | None = None) -> FrameClock:
    rate = title_rate(probe)
    duration = float(visual_pass.get("duration_s") or probe.get("duration_s") or 0.0)
    if frame_times is not None and len(frame_times):
        return FrameClock.from_times(frame_times, rate, duration)
    return FrameClock.constant(rate, max(duration, 1 / float(rate.fps)),
                               float(visual_pass.get("first_time_s") or 0.0))


def cut_frames(shots: Sequence[dict], profile: StyleProfile) -> list[int]:
    """The frames shot changes happen on, for the transitions the profile snaps to."""
    return sorted(int(s["start_frame"]) for s in shots if s.get("transition") in profile.snap_transitions)


def words_by_track(transcript: Sequence[dict]) -> dict[int, tuple[str | None, list[Word]]]:
    tracks: dict[int, tuple[str | None, list[Word]]] = {}
    for seg in sorted(transcript, key=lambda s: (s["track"], s["segment_index"])):
        language, words = tracks.setdefault(int(seg["track"]), (seg.get("language"), []))
        seg_words = seg.get("words") or []
        if not seg_words and seg["text"].strip():  # a backend without word timings: spread evenly
            tokens = seg["text"].split()
            step = (seg["end_s"] - seg["start_s"]) / len(tokens)
            seg_words = [{"start_s": seg["start_s"] + i * step, "end_s": seg["start_s"] + (i + 1) * step,
                          "text": t, "probability": None, "speaker": seg.get("speaker")}
                         for i, t in enumerate(tokens)]
        for w in seg_words:
            words.append(Word(start_s=float(w["start_s"]), end_s=float(w["end_s"]), text=w["text"],
                              probability=w.get("probability"), speaker=w.get("speaker") or seg.get("speaker")))
    return tracks


def events_table(templates: Sequence[SubtitleTemplate]) -> pa.Table:
    rows = []
    for t in templates:
        for e in t.events:
            rows.append({
                "track": t.track, "language": t.language, "event": e.index, "in_frame": e.in_frame,
                "out_frame": e.out_frame, "start_s": e.start_s, "end_s": e.end_s, "lines": list(e.lines),
                "speakers": list(e.speakers), "speech_start_s": e.speech_start_s,
                "speech_end_s": e.speech_end_s,
                "words": [{"start_s": w.start_s, "end_s": w.end_s, "text": w.text, "probability": w.probability,
                           "speaker": w.speaker} for w in e.words],
            })
    return pa.Table.from_pylist(rows, schema=EVENTS_SCHEMA)


def events_from(rows: Sequence[dict]) -> list[tuple[int, str | None, list[SubtitleEvent]]]:
    """``subtitle_events.parquet`` rows back as ``(track, language, events)`` in track order."""
    tracks: dict[int, tuple[str | None, list[SubtitleEvent]]] = {}
    for r in sorted(rows, key=lambda r: (r["track"], r["event"])):
        _, events = tracks.setdefault(int(r["track"]), (r["language"], []))
        events.append(SubtitleEvent(
            index=int(r["event"]), in_frame=int(r["in_frame"]), out_frame=int(r["out_frame"]),
            start_s=r["start_s"], end_s=r["end_s"], lines=tuple(r["lines"]), speakers=tuple(r["speakers"]),
            speech_start_s=r["speech_start_s"], speech_end_s=r["speech_end_s"],
            words=tuple(Word(start_s=w["start_s"], end_s=w["end_s"], text=w["text"],
                             probability=w["probability"], speaker=w["speaker"])
                        for w in r["words"] or [])))
    return [(track, lang, events) for track, (lang, events) in sorted(tracks.items())]
