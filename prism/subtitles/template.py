"""The subtitle template of one track: events cut from the word timings, timed to speech and cuts.

1. **Segmentation** (dynamic programming over the words): every candidate event is a run of
   words that lays out in the profile's lines, lasts at most ``max_duration_s`` of speech and
   holds one speaker, or two speakers one line each (the dash form). Its cost prefers ending at a
   sentence, then a clause, then a pause; never after an article or preposition; not across
   long pauses; and readable within the time it can stay on screen. The cheapest split wins.
2. **Timing** in frames at the title's real frame times: the in-cue on the first frame of speech,
   moved onto a cut within ``snap_s``; the out-cue at the end of speech, extended for reading
   speed (up to ``out_extend_s``) and minimum duration, moved to ``out_gap_frames`` before a cut
   within ``snap_s``; gaps up to ``chain_gap_s`` closed to ``min_gap_frames``.
3. **Conformance**: the profile's rules checked on the events as the raw speech timing would
   have them and as timed, so each row says whether timing fixed it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from prism.audio.asr import Word
from prism.subtitles.clock import FrameClock
from prism.subtitles.conformance import Cue, Violation, check, clean_share, reading_chars
from prism.subtitles.layout import CLAUSE_END, SENTENCE_END, bare, forbidden, lay_out
from prism.subtitles.profile import LanguageRules, StyleProfile

# Segmentation costs (relative weights).
_PER_EVENT = 2.0
_END_MID_CLAUSE = 14.0
_END_AFTER_CLAUSE = 4.0
_END_AT_PAUSE = 2.0
_END_FORBIDDEN = 40.0
_DIALOGUE = 5.0
_TOO_FAST = 25.0
_TOO_SHORT = 8.0
_PAUSE = 10.0
_PAUSE_S = 1.0  # a pause this long inside an event is a reason to split it
_END_PAUSE_S = 0.4


@dataclass(frozen=True)
class SubtitleEvent:
    index: int
    in_frame: int
    out_frame: int  # exclusive: the first frame without the event
    start_s: float
    end_s: float
    lines: tuple[str, ...]
    speakers: tuple[str | None, ...]  # one per speaker (two for a dash event)
    speech_start_s: float
    speech_end_s: float
    words: tuple[Word, ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def dialogue(self) -> bool:
        return len(self.speakers) == 2

    def cue(self) -> Cue:
        return Cue(self.in_frame, self.out_frame, self.lines, self.speech_start_s, self.speech_end_s,
                   self.dialogue)


@dataclass(frozen=True)
class ConformanceRow:
    event: int
    rule: str
    value: float | None
    limit: float | None
    fixed: bool


@dataclass
class SubtitleTemplate:
    track: int
    language: str | None
    profile: StyleProfile
    rules: LanguageRules
    clock: FrameClock
    events: list[SubtitleEvent]
    conformance: list[ConformanceRow] = field(default_factory=list)

    @property
    def remaining(self) -> list[ConformanceRow]:
        return [r for r in self.conformance if not r.fixed]

    @property
    def conformance_rate(self) -> float:
        return clean_share([Violation(r.event, r.rule, r.value, r.limit) for r in self.remaining],
                           len(self.events))


# -- segmentation -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Group:
    first: int
    last: int  # inclusive
    lines: tuple[str, ...]
    speakers: tuple[str | None, ...]


def _runs(words: Sequence[Word]) -> list[list[Word]]:
    runs: list[list[Word]] = []
    for w in words:
        if runs and runs[-1][-1].speaker == w.speaker:
            runs[-1].append(w)
        else:
            runs.append([w])
    return runs


def _layout(words: Sequence[Word], rules: LanguageRules, profile: StyleProfile
            ) -> tuple[tuple[str, ...], tuple[str | None, ...], float] | None:
    """Lines, speakers and the layout's cost (a forbidden line break costs like a forbidden end)."""
    runs = _runs(words)
    if len(runs) == 1:
        laid = lay_out([w.text for w in words], rules, profile.max_lines)
        if laid is None:
            return None
        lines, cost = laid
        return tuple(lines), (runs[0][0].speaker,), _END_FORBIDDEN if forbidden(cost) else 0.0
    if len(runs) == 2 and profile.max_lines >= 2:
        lines = tuple(rules.dialogue_dash + " ".join(w.text for w in run) for run in runs)
        if all(rules.text_width(line) <= rules.max_chars_per_line for line in lines):
            return lines, (runs[0][0].speaker, runs[1][0].speaker), _DIALOGUE
    return None


def _end_cost(words: Sequence[Word], j: int, rules: LanguageRules) -> float:
    if j == len(words) - 1:
        return 0.0
    here, after = words[j], words[j + 1]
    if here.speaker != after.speaker:
        return 0.0
    tail = here.text.rstrip("\"'”’)")
    if tail.endswith(SENTENCE_END):
        return 0.0
    cost = _END_MID_CLAUSE
    if tail.endswith(CLAUSE_END):
        cost = _END_AFTER_CLAUSE
    elif after.start_s - here.end_s >= _END_PAUSE_S:
        cost = _END_AT_PAUSE
    if bare(here.text) in rules.no_break_after and not tail.endswith(CLAUSE_END):
        cost += _END_FORBIDDEN
    return cost


def segment(words: Sequence[Word], profile: StyleProfile, rules: LanguageRules,
            gap_s: float) -> list[_Group]:
    """The cheapest split of a track's words into events (see the module's description)."""
    n = len(words)
    if not n:
        return []
    max_width = rules.max_chars_per_line * profile.max_lines
    # Speech may last the maximum less the two frames that rounding its ends to frames can add.
    max_span = profile.max_duration_s - 2 * gap_s / max(profile.min_gap_frames, 1)
    best = [0.0] + [math.inf] * n
    choice: list[_Group | None] = [None] * (n + 1)
    for j in range(n):
        end_cost = _end_cost(words, j, rules)
        next_start = words[j + 1].start_s if j + 1 < n else math.inf
        width = -1.0
        for i in range(j, -1, -1):
            width += rules.text_width(words[i].text) + 1
            span = words[j].end_s - words[i].start_s
            if i < j and (width > max_width + 2 or span > max_span):
                break
            if best[i] == math.inf:
                continue
            laid = _layout(words[i:j + 1], rules, profile)
            if laid is None:
                if i < j:
                    continue
                laid = ((words[i].text,), (words[i].speaker,), 0.0)  # an over-long word stands alone
            lines, speakers, layout_cost = laid
            cost = _PER_EVENT + end_cost + layout_cost
            for k in range(i, j):
                pause = words[k + 1].start_s - words[k].end_s
                if pause > _PAUSE_S and words[k + 1].speaker == words[k].speaker:
                    cost += _PAUSE * (1 + pause - _PAUSE_S)
            window = min(words[j].end_s + profile.out_extend_s, next_start - gap_s) - words[i].start_s
            window = min(max(window, 1e-3), profile.max_duration_s)
            cps = reading_chars(lines, rules) / window
            if cps > rules.reading_speed_cps:
                cost += _TOO_FAST * (cps / rules.reading_speed_cps - 1)
            if window < profile.min_duration_s:
                cost += _TOO_SHORT
            total = best[i] + cost
            if total < best[j + 1]:
                best[j + 1] = total
                choice[j + 1] = _Group(i, j, lines, speakers)
    groups, j = [], n
    while j > 0:
        g = choice[j]
        assert g is not None
        groups.append(g)
        j = g.first
    return groups[::-1]


# -- timing ---------------------------------------------------------------------------------------

def _nearest(cuts: Sequence[int], frame: int, within: int, lo: int, hi: int) -> int | None:
    near = [c for c in cuts if abs(c - frame) <= within and lo <= c <= hi]
    return min(near, key=lambda c: (abs(c - frame), c)) if near else None


def time_events(groups: Sequence[_Group], words: Sequence[Word], clock: FrameClock, cuts: Sequence[int],
                profile: StyleProfile, rules: LanguageRules) -> list[SubtitleEvent]:
    fps = float(clock.rate.fps)
    snap = clock.frames_in(profile.snap_s)
    chain = clock.frames_in(profile.chain_gap_s)
    ext = clock.frames_in(profile.out_extend_s)
    gap = profile.min_gap_frames
    og = profile.out_gap_frames
    min_frames = math.ceil(profile.min_duration_s * fps - 1e-6)
    max_frames = math.floor(profile.max_duration_s * fps + 1e-6)
    speech = [(clock.frame_at(words[g.first].start_s), max(clock.frame_after(words[g.last].end_s),
                                                           clock.frame_at(words[g.first].start_s) + 1))
              for g in groups]
    # In-cues: the first frame of speech, onto a cut within snap (not so early that the previous
    # event, ending out_gap frames before that cut, would be shorter than the minimum; not after
    # this event's speech has ended).
    ins: list[int] = []
    for k, (s, e) in enumerate(speech):
        lo = min(ins[-1] + min_frames + og, s) if k else 0
        c = _nearest(cuts, s, snap, lo, e - 1)
        start = c if c is not None else s
        if ins:
            start = max(start, ins[-1] + gap + 1)
        ins.append(start)
    events: list[SubtitleEvent] = []
    for k, g in enumerate(groups):
        s, e = speech[k]
        start = ins[k]
        hard_max = ins[k + 1] - gap if k + 1 < len(groups) else clock.frame_count
        need = math.ceil(reading_chars(g.lines, rules) / rules.reading_speed_cps * fps)
        end = max(e, min(start + need, e + ext), start + min_frames)
        end = min(end, start + max_frames, hard_max)
        # An out-cue within snap of a later cut ends out_gap frames before it, unless holding past
        # the cut (beyond the snap zone) or ending before the zone breaks fewer rules.
        c = _nearest(cuts, end, snap, start + 1, clock.frame_count)
        if c is not None:
            def broken(out: int, at_cut: bool, s: int = s, e: int = e, start: int = start, need: int = need,
                       hard_max: int = hard_max) -> int:
                if out <= start or out > hard_max or out - start > max_frames:
                    return 99
                near_other = any(abs(out - x) <= snap and x > start and out != x - og for x in cuts)
                return ((out - start < min_frames) + (out - start < need) + near_other
                        + (not at_cut and out < e - profile.in_cue_tolerance_frames)
                        + (not at_cut and out > max(e + ext, start + min_frames)))
            options = [(x - og, True) for x in cuts if abs(x - end) <= snap and x > start + 1]
            options += [(c + snap + 1, False), (c - snap - 1, False)]
            scored = [(broken(out, at), i, out) for i, (out, at) in enumerate(options)]
            best = min(scored)
            if best[0] < 99:
                end = best[2]
        # Chaining: a short gap to the next event closes to the minimum gap (never pulling the
        # out-cue into a cut's snap zone).
        if k + 1 < len(groups):
            nxt = ins[k + 1]
            near_cut = any(abs(nxt - gap - x) <= snap and x > start and nxt - gap != x - og for x in cuts)
            if gap < nxt - end <= chain and nxt - gap - start <= max_frames and not near_cut:
                end = nxt - gap
        end = max(end, start + 1)
        events.append(SubtitleEvent(
            index=k, in_frame=start, out_frame=end, start_s=round(clock.time_of(start), 3),
            end_s=round(clock.time_of(end), 3), lines=g.lines, speakers=g.speakers,
            speech_start_s=words[g.first].start_s, speech_end_s=words[g.last].end_s,
            words=tuple(words[g.first:g.last + 1])))
    return events


def build_template(track: int, language: str | None, words: Sequence[Word], clock: FrameClock,
                   cuts: Sequence[int], profile: StyleProfile) -> SubtitleTemplate:
    """A track's subtitle template and its conformance rows."""
    rules = profile.rules_for(language)
    ordered = sorted((w for w in words if w.text.strip()), key=lambda w: (w.start_s, w.end_s))
    ordered = [replace(w, end_s=max(w.end_s, w.start_s), text=" ".join(w.text.split())) for w in ordered]
    cuts = sorted(set(cuts))
    groups = segment(ordered, profile, rules, profile.min_gap_frames / float(clock.rate.fps))
    events = time_events(groups, ordered, clock, cuts, profile, rules)
    # The same events as raw speech timing would show them: what the timing rules had to fix.
    raw = [Cue(clock.frame_at(e.speech_start_s), max(clock.frame_after(e.speech_end_s),
                                                     clock.frame_at(e.speech_start_s) + 1),
               e.lines, e.speech_start_s, e.speech_end_s, e.dialogue) for e in events]
    before = {(v.event, v.rule): v for v in check(raw, clock, cuts, profile, rules)}
    after = {(v.event, v.rule): v for v in check([e.cue() for e in events], clock, cuts, profile, rules)}
    rows = [ConformanceRow(v.event, v.rule, v.value, v.limit, key not in after) for key, v in before.items()]
    rows += [ConformanceRow(v.event, v.rule, v.value, v.limit, False) for key, v in after.items()
             if key not in before]
    for key, v in after.items():  # still violated: report the value as timed
        if key in before:
            rows = [ConformanceRow(r.event, r.rule, v.value, v.limit, False)
                    if (r.event, r.rule) == key else r for r in rows]
    rows.sort(key=lambda r: (r.event, r.rule))
    return SubtitleTemplate(track, language, profile, rules, clock, events, rows)
