"""The style profile's rules, checked on timed events: what ``subtitle_conformance.parquet`` lists.

Every rule is read off one event (and its neighbours and the cuts) in frames at the title's rate:

=============  ==========================================================================  =======
rule           violated when                                                               value
=============  ==========================================================================  =======
lines          more lines than ``max_lines``                                               lines
line_length    a line wider than the language's limit (Korean: half-width counts 0.5)      width
line_break     a first line ends on an article, preposition or determiner                  —
min_duration   shorter than ``min_duration_s``                                              s
max_duration   longer than ``max_duration_s``                                               s
reading_speed  more characters per second than the language's limit                        cps
gap            fewer than ``min_gap_frames`` frames before the next event (or overlap)      frames
chaining       a gap of more than ``min_gap_frames`` but at most ``chain_gap_s``           frames
in_cue         the in-cue is not on the first frame of speech, nor on a cut within snap   frames
out_cue        the out-cue runs more than ``out_extend_s`` past the speech without a       s
               reason (minimum duration, chaining to the next event, a cut)
out_early      the out-cue comes before the speech ends without a reason (the next         s
               event, a cut)
shot_in        the in-cue is within ``snap_s`` of a cut but not on it                      frames
shot_out       the out-cue is within ``snap_s`` of a cut but not ``out_gap_frames``        frames
               before it
=============  ==========================================================================  =======
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from prism.subtitles.clock import FrameClock
from prism.subtitles.layout import bare
from prism.subtitles.profile import LanguageRules, StyleProfile


@dataclass(frozen=True)
class Cue:
    """What the rules need of an event: frames (out exclusive), lines and the speech it carries."""

    in_frame: int
    out_frame: int
    lines: tuple[str, ...]
    speech_start_s: float
    speech_end_s: float
    dialogue: bool = False  # two speakers, one line each, each led by the dash


@dataclass(frozen=True)
class Violation:
    event: int
    rule: str
    value: float | None
    limit: float | None


def reading_chars(lines: Sequence[str], rules: LanguageRules) -> float:
    """Characters a viewer reads: every character of every line, counted as the width rule counts."""
    return sum(rules.text_width(line) for line in lines)


def check(cues: Sequence[Cue], clock: FrameClock, cuts: Sequence[int], profile: StyleProfile,
          rules: LanguageRules) -> list[Violation]:
    fps = float(clock.rate.fps)
    snap = clock.frames_in(profile.snap_s)
    chain = clock.frames_in(profile.chain_gap_s)
    ext = clock.frames_in(profile.out_extend_s)
    min_frames = math.ceil(profile.min_duration_s * fps - 1e-6)
    gap_min = profile.min_gap_frames
    out: list[Violation] = []
    for i, c in enumerate(cues):
        nxt = cues[i + 1] if i + 1 < len(cues) else None

        def flag(rule: str, value: float | None, limit: float | None, i: int = i) -> None:
            out.append(Violation(i, rule, None if value is None else round(float(value), 3),
                                 None if limit is None else round(float(limit), 3)))

        # Layout.
        if len(c.lines) > profile.max_lines:
            flag("lines", len(c.lines), profile.max_lines)
        widest = max((rules.text_width(line) for line in c.lines), default=0.0)
        if widest > rules.max_chars_per_line:
            flag("line_length", widest, rules.max_chars_per_line)
        if len(c.lines) > 1 and not c.dialogue:
            last = c.lines[0].split()[-1] if c.lines[0].split() else ""
            if bare(last) in rules.no_break_after and not last.rstrip("\"'”’").endswith((",", ".", "?", "!")):
                flag("line_break", None, None)
        # Duration and reading speed (times at the real frame times).
        duration = clock.time_of(c.out_frame) - clock.time_of(c.in_frame)
        if c.out_frame - c.in_frame < min_frames:
            flag("min_duration", duration, profile.min_duration_s)
        if duration > profile.max_duration_s + 1e-6:
            flag("max_duration", duration, profile.max_duration_s)
        cps = reading_chars(c.lines, rules) / duration if duration > 0 else float("inf")
        if cps > rules.reading_speed_cps + 1e-6:
            flag("reading_speed", cps, rules.reading_speed_cps)
        # Gaps.
        gap = nxt.in_frame - c.out_frame if nxt else None
        if gap is not None:
            if gap < gap_min:
                flag("gap", gap, gap_min)
            elif gap_min < gap <= chain:
                flag("chaining", gap, gap_min)
        # Cues against the speech and the cuts.
        speech_in = clock.frame_at(c.speech_start_s)
        speech_out = clock.frame_after(c.speech_end_s)
        near_in = [k for k in cuts if abs(c.in_frame - k) <= snap and k < c.out_frame]
        near_out = [k for k in cuts if abs(c.out_frame - k) <= snap and k > c.in_frame]
        on_cut_in = c.in_frame in cuts
        if near_in and not on_cut_in:
            flag("shot_in", c.in_frame - min(near_in, key=lambda k: abs(c.in_frame - k)), snap)
        snapped_out = any(c.out_frame == k - profile.out_gap_frames for k in near_out)
        if near_out and not snapped_out:
            flag("shot_out", c.out_frame - min(near_out, key=lambda k: abs(c.out_frame - k)), snap)
        off = c.in_frame - speech_in
        if abs(off) > profile.in_cue_tolerance_frames and not (on_cut_in and abs(off) <= snap):
            flag("in_cue", off, profile.in_cue_tolerance_frames)
        chained = gap is not None and gap == gap_min
        allowed = max(speech_out + ext, c.in_frame + min_frames)
        if c.out_frame > allowed and not chained and not snapped_out:
            flag("out_cue", clock.time_of(c.out_frame) - c.speech_end_s, profile.out_extend_s)
        if c.out_frame < speech_out - profile.in_cue_tolerance_frames and not chained and not snapped_out:
            flag("out_early", c.speech_end_s - clock.time_of(c.out_frame), 0.0)
    return out


def clean_share(violations: Sequence[Violation], events: int) -> float:
    """The share of events with no violation (1.0 for a template without events)."""
    if not events:
        return 1.0
    return 1.0 - len({v.event for v in violations}) / events
