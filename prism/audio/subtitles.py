"""WebVTT and SubRip writers for transcript segments (what web players and editors accept).

Long segments are split into cues of at most ``max_cue_s`` seconds and two
lines of ``max_line`` characters, at word boundaries (using word timings when
the backend gave them, else proportionally to characters), so a 20-second
Whisper segment never becomes one unreadable cue.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prism.audio.asr import TranscriptSegment

MAX_LINE = 42
MAX_LINES = 2
MAX_CUE_S = 7.0


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str  # may contain one newline
    speaker: str | None = None  # WebVTT voice span (<v S1>) when the segment has a speaker


def _timestamp(seconds: float, sep: str) -> str:
    ms = int(round(max(seconds, 0.0) * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _wrap(text: str, max_line: int) -> list[str]:
    return textwrap.wrap(text, width=max_line, break_long_words=True, break_on_hyphens=False) or [""]


def _word_spans(segment: TranscriptSegment) -> list[tuple[float, float, str]]:
    if segment.words:
        return [(w.start_s, w.end_s, w.text) for w in segment.words if w.text]
    tokens = segment.text.split()
    if not tokens:
        return []
    total = sum(len(t) + 1 for t in tokens)
    span = segment.end_s - segment.start_s
    out, pos = [], 0
    for t in tokens:
        start = segment.start_s + span * pos / total
        pos += len(t) + 1
        out.append((start, segment.start_s + span * pos / total, t))
    return out


def cues_of(segments: Iterable[TranscriptSegment], max_line: int = MAX_LINE,
            max_cue_s: float = MAX_CUE_S) -> list[Cue]:
    max_chars = max_line * MAX_LINES
    cues: list[Cue] = []
    for segment in segments:
        text = " ".join(segment.text.split())
        if not text:
            continue
        if len(text) <= max_chars and segment.end_s - segment.start_s <= max_cue_s:
            cues.append(Cue(segment.start_s, segment.end_s, "\n".join(_wrap(text, max_line)), segment.speaker))
            continue
        group: list[tuple[float, float, str]] = []
        for word in _word_spans(segment):
            candidate = " ".join(w[2] for w in [*group, word])
            if group and (len(candidate) > max_chars or word[1] - group[0][0] > max_cue_s):
                cues.append(_cue(group, max_line, segment))
                group = []
            group.append(word)
        if group:
            cues.append(_cue(group, max_line, segment))
    # Players want ordered, non-overlapping cues.
    cues.sort(key=lambda c: c.start_s)
    fixed: list[Cue] = []
    for cue in cues:
        if fixed and cue.start_s < fixed[-1].end_s:
            prev = fixed[-1]
            fixed[-1] = Cue(prev.start_s, max(prev.start_s + 0.001, cue.start_s), prev.text, prev.speaker)
        fixed.append(cue)
    return [c for c in fixed if c.end_s > c.start_s]


def _cue(group: Sequence[tuple[float, float, str]], max_line: int, segment: TranscriptSegment) -> Cue:
    text = " ".join(w[2] for w in group)
    start = max(segment.start_s, group[0][0])
    end = min(segment.end_s, max(group[-1][1], start + 0.001))
    return Cue(start, end, "\n".join(_wrap(text, max_line)[:MAX_LINES + 1]), segment.speaker)


def _vtt_escape(text: str) -> str:
    # WebVTT cue text: '&' and '<' start markup; '-->' would end the timing line.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(segments: Iterable[TranscriptSegment], language: str | None = None) -> str:
    lines = ["WEBVTT"]
    if language:
        lines.append(f"Language: {language}")
    lines.append("")
    for cue in cues_of(segments):
        lines.append(f"{_timestamp(cue.start_s, '.')} --> {_timestamp(cue.end_s, '.')}")
        text = _vtt_escape(cue.text)
        # A voice span names who speaks (WebVTT <v>); speaker ids are S1, S2… (no markup characters).
        lines.append(f"<v {cue.speaker}>{text}" if cue.speaker else text)
        lines.append("")
    return "\n".join(lines)


def to_srt(segments: Iterable[TranscriptSegment]) -> str:
    blocks = []
    for i, cue in enumerate(cues_of(segments), start=1):
        blocks.append(f"{i}\n{_timestamp(cue.start_s, ',')} --> {_timestamp(cue.end_s, ',')}\n{cue.text}\n")
    return "\n".join(blocks)


def subtitle_names(languages: list[tuple[int, str]]) -> dict[int, str]:
    """``transcript.<lang>`` per track; a language on several tracks gets ``<lang>-track<N>`` after
    the first, so no file is overwritten."""
    names, seen = {}, set()
    for track, lang in languages:
        stem = f"transcript.{lang}" if lang not in seen else f"transcript.{lang}-track{track}"
        seen.add(lang)
        names[track] = stem
    return names
