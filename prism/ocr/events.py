"""From lines read on sampled frames to timed on-screen text events.

A *sample* is one frame that was detected and read. Lines of consecutive samples are linked
into tracks when they are the same text in the same place (:func:`same_line`) or the same text
moved vertically (rolling credits, :func:`rolled`); one missed sample is bridged. Each track
becomes an event whose start and end are the frames found by the boundary refinement (see
:mod:`prism.ocr.video`), or the midpoint between samples where there is none. Each event gets a
``kind`` from its position, its background and its dynamics (:func:`classify`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import pyarrow as pa

from prism.ocr.base import Box, TextLine, script_of, similarity

ONSCREEN_TEXT_SCHEMA = pa.schema(
    [
        pa.field("event_index", pa.int32(), nullable=False),
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("shot_index", pa.int32(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("script", pa.string(), nullable=False),  # ISO 15924: Hang, Latn, Hani, Jpan, Zyyy
        pa.field("confidence", pa.float32(), nullable=False),
        # The line's box, normalised to the displayed frame (0-1).
        pa.field("x", pa.float32(), nullable=False),
        pa.field("y", pa.float32(), nullable=False),
        pa.field("w", pa.float32(), nullable=False),
        pa.field("h", pa.float32(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # subtitle | credit | title | sign
        pa.field("start_frame", pa.int64(), nullable=False),
        pa.field("end_frame", pa.int64(), nullable=False),  # exclusive
        pa.field("samples", pa.int32(), nullable=False),  # sampled frames the line was read on
        pa.field("refined", pa.bool_(), nullable=False),  # both bounds found frame-exactly
        pa.field("reader", pa.string(), nullable=False),
    ]
)
KINDS = ("subtitle", "credit", "title", "sign")


@dataclass
class Observation:
    line: TextLine
    plain_background: bool


@dataclass
class Sample:
    """One sampled frame and the lines read on it."""

    frame_index: int
    shot_index: int
    observations: list[Observation] = field(default_factory=list)


@dataclass(frozen=True)
class EventOptions:
    min_confidence: float = 0.5
    min_chars: int = 2  # shorter readings need sure_confidence
    sure_confidence: float = 0.9
    same_overlap: float = 0.5
    same_text: float = 0.6
    rolled_text: float = 0.8
    bridge_samples: int = 1  # missed samples bridged inside a track


def same_line(a: TextLine, b: TextLine, options: EventOptions = EventOptions()) -> bool:
    """The same text in (about) the same place."""
    return (a.box.overlap(b.box) >= options.same_overlap and a.box.iou(b.box) >= 0.3
            and similarity(a.text, b.text) >= options.same_text)


def rolled(a: TextLine, b: TextLine, options: EventOptions = EventOptions()) -> bool:
    """The same text moved vertically (a rolling credit): same columns, same height, other rows."""
    horizontal = min(a.box.x + a.box.w, b.box.x + b.box.w) - max(a.box.x, b.box.x)
    # Heights are not compared: a line entering or leaving the frame is cut by its edge.
    return (horizontal >= 0.6 * min(a.box.w, b.box.w) and abs(a.box.y - b.box.y) > 0.3 * min(a.box.h, b.box.h)
            and similarity(a.text, b.text) >= options.rolled_text)


def continues(a: TextLine, b: TextLine, options: EventOptions = EventOptions()) -> bool:
    return same_line(a, b, options) or rolled(a, b, options)


@dataclass
class Track:
    observations: list[tuple[int, Observation]] = field(default_factory=list)  # (sample position, obs)

    @property
    def first(self) -> int:
        return self.observations[0][0]

    @property
    def last(self) -> int:
        return self.observations[-1][0]

    def last_line(self) -> TextLine:
        return self.observations[-1][1].line


def track_lines(samples: list[Sample], options: EventOptions = EventOptions()) -> list[Track]:
    """Link the lines of consecutive samples into tracks (greedy, best text match first)."""
    done: list[Track] = []
    active: list[Track] = []
    for pos, sample in enumerate(samples):
        candidates = []
        for ti, track in enumerate(active):
            for oi, obs in enumerate(sample.observations):
                prev = track.last_line()
                if continues(prev, obs.line, options):
                    score = similarity(prev.text, obs.line.text) + prev.box.iou(obs.line.box)
                    candidates.append((score, ti, oi))
        taken_t, taken_o = set(), set()
        for _, ti, oi in sorted(candidates, reverse=True):
            if ti in taken_t or oi in taken_o:
                continue
            taken_t.add(ti)
            taken_o.add(oi)
            active[ti].observations.append((pos, sample.observations[oi]))
        for oi, obs in enumerate(sample.observations):
            if oi not in taken_o:
                active.append(Track([(pos, obs)]))
        still = []
        for track in active:
            (still if pos - track.last <= options.bridge_samples else done).append(track)
        active = still
    done.extend(active)
    done.sort(key=lambda t: (t.first, t.observations[0][1].line.box.y, t.observations[0][1].line.box.x))
    return done


def best_reading(track: Track) -> TextLine:
    """The track's most frequent reading (most confident among equals)."""
    counts = Counter(obs.line.text for _, obs in track.observations)
    top = max(counts.values())
    return max((obs.line for _, obs in track.observations if counts[obs.line.text] == top),
               key=lambda line: line.confidence)


def is_rolling(track: Track) -> bool:
    ys = [obs.line.box.y for _, obs in track.observations]
    return len(ys) >= 2 and any(rolled(a.line, b.line) for (_, a), (_, b)
                                in zip(track.observations, track.observations[1:], strict=False))


def keep(line: TextLine, options: EventOptions = EventOptions()) -> bool:
    chars = len("".join(line.text.split()))
    if line.confidence < options.min_confidence or chars == 0:
        return False
    return chars >= options.min_chars or line.confidence >= options.sure_confidence


def classify(box: Box, width: int, height: int, *, duration_s: float, rolling: bool,
             plain_background: bool) -> str:
    """subtitle: centred in the bottom or top band, on screen for a dialogue line's time;
    credit: rolling, or on a plain (black or flat) background; title: large centred text;
    sign: the rest (text in the scene). Boxes are the detector's, about 1.5x the letters' height."""
    cx, cy = box.cx / width, box.cy / height
    rel_h = box.h / height
    if rolling:
        return "credit"
    in_band = cy >= 0.72 or cy <= 0.2
    if abs(cx - 0.5) <= 0.12 and in_band and duration_s <= 10.0 and rel_h < 0.16:
        return "subtitle"
    if plain_background:
        return "credit"
    if rel_h >= 0.11 and abs(cx - 0.5) <= 0.2:
        return "title"
    return "sign"


def settle_top_band(events: list[TextEvent], width: int, height: int) -> list[TextEvent]:
    """Subtitles sit at the bottom; at the top only when several follow one another there (a
    lone centred line at the top is a title or a sign)."""
    top = [e for e in events if e.kind == "subtitle" and e.line.box.cy / height <= 0.2]
    if len(top) >= 2:
        return events
    out = []
    for e in events:
        if e in top:
            kind = "title" if e.line.box.h / height >= 0.11 else "sign"
            e = replace(e, kind=kind)
        out.append(e)
    return out


@dataclass(frozen=True)
class TextEvent:
    start_frame: int
    end_frame: int
    shot_index: int
    line: TextLine
    samples: int
    refined: bool
    rolling: bool
    plain_background: bool
    kind: str = "sign"

    @property
    def script(self) -> str:
        return script_of(self.line.text)
