"""An independent checker of subtitle templates, written from the style profile's rules.

It reads the profile's TOML itself and the template as delivered (the SubRip file), and knows the
speech only as the test's ground truth (words with times and speakers) and the cuts as frames; it
shares no code with ``prism.subtitles``. Frame arithmetic: constant-rate titles whose first frame is
at 0, frame ``n`` at ``n / fps``.
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from importlib import resources

_SRT_TIME = re.compile(r"(\d+):(\d\d):(\d\d),(\d{3}) --> (\d+):(\d\d):(\d\d),(\d{3})")


def profile_data(name: str = "streamer-2024") -> dict:
    return tomllib.loads((resources.files("prism.subtitles") / "profiles" / f"{name}.toml").read_text("utf-8"))


@dataclass
class Event:
    start_s: float
    end_s: float
    lines: list[str]


@dataclass(frozen=True)
class Spoken:
    start_s: float
    end_s: float
    text: str
    speaker: str | None = None


def parse_srt(text: str) -> list[Event]:
    events = []
    for block in text.strip().split("\n\n"):
        rows = block.strip().split("\n")
        if len(rows) < 2:
            continue
        m = _SRT_TIME.match(rows[1])
        assert m, f"bad SubRip timing line {rows[1]!r}"
        g = [int(x) for x in m.groups()]
        events.append(Event(g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000,
                            g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000, rows[2:]))
    return events


def _width(line: str, lang: dict) -> float:
    if lang["width"] == "characters":
        return float(len(line))
    return sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.5 for c in line)


def _norm(word: str) -> str:
    return word.strip().lower()


def violations(events: list[Event], words: list[Spoken], fps: float, cuts: list[int], language: str,
               profile: dict | None = None) -> list[tuple[int, str, str]]:
    """Every (event index, rule, detail) the template breaks."""
    p = profile or profile_data()
    lang = p["languages"].get(language, p["languages"]["default"])
    timing, shots = p["timing"], p["shot_changes"]
    frame = lambda t: round(t * fps)  # noqa: E731 - event times are frame times to the millisecond
    speech_frame = lambda t: math.floor(t * fps + 1e-6)  # noqa: E731 - the frame showing at t
    end_frame = lambda t: math.ceil(t * fps - 1e-6)  # noqa: E731 - the first frame after t
    snap = round(shots["snap_s"] * fps)
    chain = round(timing["chain_gap_s"] * fps)
    ext = round(timing["out_extend_s"] * fps)
    min_frames = math.ceil(timing["min_duration_s"] * fps - 1e-6)
    max_frames = math.floor(timing["max_duration_s"] * fps + 1e-6)
    gap = timing["min_gap_frames"]
    og = shots["out_gap_frames"]
    tol = timing.get("in_cue_tolerance_frames", 1)
    dash = lang.get("dialogue_dash", "-")
    no_break = {w.lower() for w in lang.get("no_break_after", [])}
    found: list[tuple[int, str, str]] = []

    # Which spoken words each event carries: the events' words in order are the speech's words.
    queue = list(words)
    carried: list[list[Spoken]] = []
    for e in events:
        tokens = [t for line in e.lines for t in line.removeprefix(dash).split()]
        mine = []
        for t in tokens:
            assert queue, f"event text {t!r} beyond the speech"
            w = queue.pop(0)
            assert _norm(w.text) == _norm(t), f"event word {t!r} is not the spoken {w.text!r}"
            mine.append(w)
        carried.append(mine)
    assert not queue, f"{len(queue)} spoken words missing from the template"

    for i, (e, spoken) in enumerate(zip(events, carried, strict=True)):
        a, b = frame(e.start_s), frame(e.end_s)
        nxt = frame(events[i + 1].start_s) if i + 1 < len(events) else None

        def bad(rule: str, detail: str, i: int = i) -> None:
            found.append((i, rule, detail))

        # Layout and speakers.
        if len(e.lines) > p["layout"]["max_lines"]:
            bad("lines", str(len(e.lines)))
        for line in e.lines:
            if _width(line, lang) > lang["max_chars_per_line"]:
                bad("line_length", line)
        speakers = []
        for w in spoken:
            if not speakers or speakers[-1] != w.speaker:
                speakers.append(w.speaker)
        if len(speakers) > 2:
            bad("speakers", str(speakers))
        if len(speakers) == 2:
            if len(e.lines) != 2 or not all(line.startswith(dash) for line in e.lines):
                bad("two_speaker_form", " / ".join(e.lines))
        elif len(e.lines) == 2:
            last = e.lines[0].split()[-1]
            if last.lower().strip("\"'") in no_break:
                bad("line_break", e.lines[0])
            if _width(" ".join(e.lines), lang) <= lang["max_chars_per_line"]:
                bad("one_line_fits", " / ".join(e.lines))
        # Duration, reading speed.
        if b - a < min_frames:
            bad("min_duration", f"{b - a} frames")
        if b - a > max_frames:
            bad("max_duration", f"{b - a} frames")
        chars = sum(_width(line, lang) for line in e.lines)
        if chars / ((b - a) / fps) > lang["reading_speed_cps"] + 1e-6:
            bad("reading_speed", f"{chars / ((b - a) / fps):.1f} cps")
        # Gaps.
        if nxt is not None:
            if nxt - b < gap:
                bad("gap", f"{nxt - b} frames")
            elif gap < nxt - b <= chain:
                bad("chaining", f"{nxt - b} frames")
        # Cues.
        first, last_w = speech_frame(spoken[0].start_s), end_frame(spoken[-1].end_s)
        cut_in = [c for c in cuts if 0 < abs(a - c) <= snap and c < b]
        if cut_in and a not in cuts:
            bad("shot_in", f"in {a}, cut {cut_in}")
        cut_out = [c for c in cuts if abs(b - c) <= snap and c > a]
        at_cut = any(b == c - og for c in cut_out)
        if cut_out and not at_cut:
            bad("shot_out", f"out {b}, cut {cut_out}")
        if abs(a - first) > tol and not (a in cuts and abs(a - first) <= snap):
            bad("in_cue", f"in {a}, speech {first}")
        chained = nxt is not None and nxt - b == gap
        if b > max(last_w + ext, a + min_frames) and not chained and not at_cut:
            bad("out_cue", f"out {b}, speech end {last_w}")
        if b < last_w - tol and not chained and not at_cut:
            bad("out_early", f"out {b}, speech end {last_w}")
    return found
