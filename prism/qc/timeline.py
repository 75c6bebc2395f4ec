"""The QC timeline picture: a title's findings, shots and loudness on one time axis (PNG).

One lane per (check, track), findings drawn as bars coloured by severity; a
shot lane shows where the cuts fall; a speakers lane per audio track shows who
speaks when (a colour per speaker); an optional loudness panel plots each
track's short-term loudness against the delivery target. A person reviewing a
title sees where the problems are before reading a single row.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from prism.qc.events import QcEvent, Severity

SEVERITY_COLOURS = {
    Severity.info: (66, 133, 244),
    Severity.warning: (245, 166, 35),
    Severity.error: (219, 55, 55),
}
BACKGROUND = (255, 255, 255)
INK = (40, 40, 40)
TEXT_KIND_COLOURS = {"subtitle": (60, 110, 200), "credit": (130, 90, 170), "title": (40, 150, 140),
                     "sign": (200, 140, 40)}
GRID = (225, 225, 225)
LANE_H = 22
LABEL_W = 230
MARGIN = 12
TRACK_COLOURS = [(30, 110, 200), (200, 90, 30), (40, 150, 80), (150, 60, 170)]
# One colour per speaker (S1, S2, …), repeating after ten; the report's speakers table uses the same.
SPEAKER_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                   (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def speaker_colour(speaker: str) -> tuple[int, int, int]:
    digits = "".join(c for c in speaker if c.isdigit())
    return SPEAKER_COLOURS[(int(digits) - 1 if digits else 0) % len(SPEAKER_COLOURS)]


@dataclass(frozen=True)
class SpeakerTurn:
    track: int
    start_s: float
    end_s: float
    speaker: str


@dataclass(frozen=True)
class LoudnessCurve:
    track: int
    times_s: Sequence[float]
    lufs: Sequence[float]

    @classmethod
    def of_track(cls, track: dict) -> LoudnessCurve | None:
        """A loudness.json track entry's short-term loudness (value i = the window ending at
        i*step + window) as a curve; None when the entry has none."""
        st = track.get("short_term")
        if not isinstance(st, dict) or not st.get("lufs"):
            return None
        step, window = float(st.get("step_s", 1.0)), float(st.get("window_s", 3.0))
        times = [i * step + window for i in range(len(st["lufs"]))]
        return cls(int(track["track"]), times, [float("nan") if v is None else v for v in st["lufs"]])


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _tick_step(duration_s: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if duration_s / step <= 12:
            return float(step)
    return 7200.0


def plot_x(t: float, duration_s: float, width: int = 1600) -> float:
    """The x pixel of time ``t`` on a timeline ``width`` wide (the plot right of the lane labels)."""
    duration_s = max(duration_s, 1e-3)
    plot_w = width - LABEL_W - 2 * MARGIN
    return LABEL_W + MARGIN + plot_w * min(max(t, 0.0), duration_s) / duration_s


def render_timeline(
    duration_s: float,
    events: Sequence[QcEvent],
    *,
    shot_starts_s: Sequence[float] = (),
    loudness: Sequence[LoudnessCurve] = (),
    loudness_target_lufs: float | None = None,
    onscreen_text: Sequence[tuple[float, float, str]] | None = None,
    speakers: Sequence[SpeakerTurn] = (),
    width: int = 1600,
) -> bytes:
    """Render the timeline as PNG bytes. ``onscreen_text``: (start_s, end_s, kind) of the on-screen
    text events, drawn in a lane of their own under the shots (None: no such lane)."""
    duration_s = max(duration_s, 1e-3)
    speaker_tracks = sorted({t.track for t in speakers})
    lanes: list[tuple[str, int | None]] = [("speakers", n) for n in speaker_tracks] + sorted(
        {(e.check, e.track) for e in events}, key=lambda k: (k[0], -1 if k[1] is None else k[1])
    )
    text_lane = 1 if onscreen_text is not None else 0
    rows = len(lanes) + (1 if len(lanes) == len(speaker_tracks) else 0)  # + a "no findings" row
    loud_h = 160 if loudness else 0
    height = MARGIN * 2 + 24 + LANE_H * (1 + text_lane + rows) + (loud_h + 30 if loudness else 0) + 22
    img = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    font, small = _font(13), _font(11)

    def x_of(t: float) -> float:
        return plot_x(t, duration_s, width)

    top = MARGIN + 20
    draw.text((MARGIN, MARGIN), f"QC timeline - {_clock(duration_s)}", fill=INK, font=_font(15))
    lanes_bottom = top + LANE_H * (1 + text_lane + rows)
    step = _tick_step(duration_s)
    t = 0.0
    while t <= duration_s + 1e-9:
        x = x_of(t)
        draw.line([(x, top), (x, lanes_bottom)], fill=GRID)
        draw.text((x - 12, lanes_bottom + 3), _clock(t), fill=INK, font=small)
        t += step

    # Shots lane: alternating shades so each shot reads as one block, cuts as dark ticks.
    y = top
    draw.text((MARGIN, y + 4), "shots", fill=INK, font=font)
    starts = sorted(set(shot_starts_s) | {0.0}) if shot_starts_s else []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else duration_s
        shade = (200, 200, 210) if i % 2 == 0 else (170, 170, 185)
        draw.rectangle([x_of(start), y + 3, max(x_of(end), x_of(start) + 1), y + LANE_H - 3], fill=shade)
    if not starts:
        draw.text((LABEL_W + MARGIN, y + 4), "no shot data", fill=(150, 150, 150), font=small)

    if onscreen_text is not None:
        y = top + LANE_H
        draw.text((MARGIN, y + 4), "on-screen text", fill=INK, font=font)
        draw.line([(LABEL_W + MARGIN, y + LANE_H - 1), (width - MARGIN, y + LANE_H - 1)], fill=GRID)
        for start, end, kind in onscreen_text:
            x0, x1 = x_of(start), x_of(end)
            colour = TEXT_KIND_COLOURS.get(kind, INK)
            draw.rectangle([x0, y + 4, max(x1 - 1, x0 + 2), y + LANE_H - 5], fill=colour)  # 1 px apart
        if not onscreen_text:
            draw.text((LABEL_W + MARGIN, y + 4), "no on-screen text", fill=(150, 150, 150), font=small)

    for row, (check, track) in enumerate(lanes, start=1 + text_lane):
        y = top + row * LANE_H
        label = check if track is None else f"{check} [track {track}]"
        draw.text((MARGIN, y + 4), label[:34], fill=INK, font=font)
        draw.line([(LABEL_W + MARGIN, y + LANE_H - 1), (width - MARGIN, y + LANE_H - 1)], fill=GRID)
        if check == "speakers" and row - text_lane <= len(speaker_tracks):
            for turn in (t for t in speakers if t.track == track):
                x0, x1 = x_of(turn.start_s), x_of(turn.end_s)
                draw.rectangle([x0, y + 3, max(x1, x0 + 1), y + LANE_H - 4], fill=speaker_colour(turn.speaker))
            continue
        for e in events:
            if (e.check, e.track) != (check, track):
                continue
            x0, x1 = x_of(e.start_s), x_of(e.end_s)
            draw.rectangle([x0, y + 4, max(x1, x0 + 2), y + LANE_H - 5], fill=SEVERITY_COLOURS[e.severity])
    if len(lanes) == len(speaker_tracks):
        draw.text((LABEL_W + MARGIN, top + (text_lane + len(lanes) + 1) * LANE_H + 4), "no findings",
                  fill=(40, 150, 80),
                  font=font)

    if loudness:
        ptop = lanes_bottom + 26
        pbottom = ptop + loud_h
        lo, hi = -50.0, 0.0
        draw.text((MARGIN, ptop), "short-term loudness", fill=INK, font=font)
        for level in (-40, -30, -20, -10):
            yy = pbottom - (level - lo) / (hi - lo) * loud_h
            draw.line([(LABEL_W + MARGIN, yy), (width - MARGIN, yy)], fill=GRID)
            draw.text((LABEL_W - 30, yy - 7), f"{level}", fill=INK, font=small)
        if loudness_target_lufs is not None:
            yy = pbottom - (loudness_target_lufs - lo) / (hi - lo) * loud_h
            draw.line([(LABEL_W + MARGIN, yy), (width - MARGIN, yy)], fill=(120, 120, 120), width=1)
            label = f"target {loudness_target_lufs:g} LUFS"
            draw.text((width - MARGIN - 110, yy - 15), label, fill=(90, 90, 90), font=small)
        for curve in loudness:
            colour = TRACK_COLOURS[curve.track % len(TRACK_COLOURS)]
            # NaN/None = a silent (gated) block: the line breaks there instead of bridging it.
            runs: list[list[tuple[float, float]]] = [[]]
            for t, v in zip(curve.times_s, curve.lufs, strict=False):
                if v is None or v != v:
                    runs.append([])
                else:
                    runs[-1].append((x_of(t), pbottom - (min(max(v, lo), hi) - lo) / (hi - lo) * loud_h))
            for run in runs:
                if len(run) > 1:
                    draw.line(run, fill=colour, width=2)
                elif run:
                    draw.point(run, fill=colour)
            draw.text((MARGIN, ptop + 20 + 14 * curve.track), f"track {curve.track}", fill=colour, font=small)

    legend_y = height - 20
    x = LABEL_W + MARGIN
    for sev, colour in SEVERITY_COLOURS.items():
        draw.rectangle([x, legend_y + 2, x + 12, legend_y + 12], fill=colour)
        draw.text((x + 16, legend_y), sev.value, fill=INK, font=small)
        x += 90
    if onscreen_text is not None:  # the on-screen text lane's colours
        x += 40
        for kind, colour in TEXT_KIND_COLOURS.items():
            draw.rectangle([x, legend_y + 2, x + 12, legend_y + 12], fill=colour)
            draw.text((x + 16, legend_y), kind, fill=INK, font=small)
            x += 90
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
