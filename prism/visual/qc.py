"""Visual QC from the decode pass's per-frame signals: black, freeze, letterbox/pillarbox (per
stretch of the title with the same bars), flashes.

Every detector takes O(frames) scalars (never pictures) and returns
:class:`~prism.qc.events.QcEvent` rows with a message a person can act on.
Thresholds follow FFmpeg's blackdetect/freezedetect defaults where those exist,
and the photosensitivity guidance (ITU-R BT.1702 / the Harding test's "more than
three flashes within one second") for flashes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from prism.qc.events import QcEvent, Severity


@dataclass(frozen=True)
class VisualQcParams:
    black_ratio: float = 0.98  # blackdetect: picture_black_ratio_th
    black_min_s: float = 0.5
    black_warning_s: float = 2.0  # a black gap this long inside the title is worth a look
    black_error_s: float = 10.0
    freeze_motion: float = 0.002  # mean |luma step| below this is "no change" (freezedetect: 0.001)
    freeze_min_s: float = 2.0
    freeze_error_s: float = 10.0
    bar_min: float = 0.03  # bars thinner than this share of the picture are ignored
    bar_agreement: float = 0.8  # share of a segment's non-black frames that must show the same bars
    bar_smooth_s: float = 1.0  # bar geometry is followed through a running median this long
    bar_min_segment_s: float = 2.0  # a change of bars must hold this long to start a new finding
    flash_delta: float = 0.1  # a flash transition changes relative luminance by at least this
    flash_dark_max: float = 0.8  # ... and its darker side is below this
    flashes_per_s: int = 3  # more than this many flashes in any 1 s window is hazardous


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    if not len(mask):
        return []
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _span(times: np.ndarray, duration: float, s: int, e: int) -> tuple[float, float]:
    return float(times[s]), float(times[e]) if e < len(times) else float(duration)


def black_segments(times: np.ndarray, black_ratio: np.ndarray, duration: float,
                   p: VisualQcParams = VisualQcParams()) -> list[QcEvent]:
    events = []
    for s, e in _runs(black_ratio >= p.black_ratio):
        start, end = _span(times, duration, s, e)
        length = end - start
        if length < p.black_min_s:
            continue
        at_edge = s == 0 or e >= len(times)
        where = "at the start" if s == 0 else "at the end" if e >= len(times) else "inside the title"
        severity = (Severity.info if at_edge or length < p.black_warning_s
                    else Severity.error if length >= p.black_error_s else Severity.warning)
        events.append(QcEvent(check="black", start_s=start, end_s=end, severity=severity,
                              value=round(length, 3),
                              message=f"black picture for {length:.2f}s {where} "
                                      f"({start:.2f}s-{end:.2f}s)"))
    return events


def freeze_segments(times: np.ndarray, motion: np.ndarray, black_ratio: np.ndarray, duration: float,
                    p: VisualQcParams = VisualQcParams()) -> list[QcEvent]:
    still = (motion < p.freeze_motion) & (black_ratio < p.black_ratio)  # black is reported as black
    still[0] = False  # the first frame has no predecessor to compare with
    events = []
    for s, e in _runs(still):
        # The run starts one frame before its first unchanged step.
        s = max(0, s - 1)
        start, end = _span(times, duration, s, e)
        length = end - start
        if length < p.freeze_min_s:
            continue
        severity = Severity.error if length >= p.freeze_error_s else Severity.warning
        events.append(QcEvent(check="freeze", start_s=start, end_s=end, severity=severity,
                              value=round(length, 3),
                              message=f"frozen picture (no change) for {length:.2f}s "
                                      f"({start:.2f}s-{end:.2f}s)"))
    return events


def _bar_segments(bars: dict[str, np.ndarray], valid: np.ndarray, times: np.ndarray,
                  p: VisualQcParams) -> list[tuple[int, int]]:
    """[start, end) frame ranges of the non-black frames over which the bar geometry holds.

    Each bar is smoothed by a running median over ~``bar_smooth_s`` of non-black frames (a
    dark stretch of picture touching an edge does not open a segment); a new segment starts
    where the geometry moves by more than 0.02 from the running segment's; segments shorter
    than ``bar_min_segment_s`` join the neighbour whose geometry is closest."""
    idx = np.flatnonzero(valid)
    m = len(idx)
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.04
    half = max(1, int(round(p.bar_smooth_s / max(step, 1e-3) / 2)))
    geo = np.stack([bars[k][idx] for k in ("top", "bottom", "left", "right")], axis=1)
    # A running median per column, edges repeated. scipy's filter keeps one window at a time;
    # np.median over a sliding-window view copied every window at once (4 x 25 floats a frame:
    # +500 MB for a 3-hour title, the peak of its whole run).
    smooth = ndimage.median_filter(geo, size=(2 * half + 1, 1), mode="nearest")
    segments: list[list[int]] = []  # [start, end) in positions of idx
    anchor = None
    for i in range(m):
        if anchor is None or np.abs(smooth[i] - anchor).max() > 0.02:
            segments.append([i, i + 1])
            anchor = smooth[i]
        else:
            segments[-1][1] = i + 1

    def length_s(seg: list[int]) -> float:
        a, b = idx[seg[0]], idx[seg[1] - 1]
        return float(times[b] - times[a]) + step

    def median(seg: list[int]) -> np.ndarray:
        return np.median(geo[seg[0]:seg[1]], axis=0)

    while len(segments) > 1:
        k = min(range(len(segments)), key=lambda j: length_s(segments[j]))
        if length_s(segments[k]) >= p.bar_min_segment_s:
            break
        here = median(segments[k])
        options = [j for j in (k - 1, k + 1) if 0 <= j < len(segments)]
        j = min(options, key=lambda j: float(np.abs(median(segments[j]) - here).max()))
        a, b = sorted((j, k))
        segments[a:b + 1] = [[segments[a][0], segments[b][1]]]
    return [(int(idx[a]), int(idx[b - 1]) + 1) for a, b in segments]


def letterbox(bars: dict[str, np.ndarray], duration: float, width: int, height: int,
              p: VisualQcParams = VisualQcParams(), times: np.ndarray | None = None) -> list[QcEvent]:
    """Black bars (letterbox, pillarbox or both: windowbox), one finding per stretch of the title
    with the same bars: a title may switch aspect ratio (a 2.39:1 film section inside 16:9).
    ``bars``: the four ``bar_*`` columns (share of height/width; NaN on black frames), in
    display orientation; ``times``: the frames' presentation times."""
    n = len(bars["top"])
    valid = ~np.isnan(bars["top"])
    if not valid.any():
        return []
    if times is None:
        times = np.arange(n) * (duration / max(n, 1))
    segments = _bar_segments(bars, valid, times, p)
    events = []
    for k, (s, e) in enumerate(segments):
        # A segment runs from its first non-black frame to the next one's (black frames between
        # two segments belong to the one before); the first starts at 0, the last ends the title.
        start_s = 0.0 if k == 0 else float(times[s])
        end_s = float(duration) if k == len(segments) - 1 else float(times[segments[k + 1][0]])
        seg_valid = valid[s:e]
        part = {key: v[s:e][seg_valid] for key, v in bars.items()}
        event = _bars_event(part, start_s, end_s, width, height, p, whole=len(segments) == 1)
        if event is not None:
            events.append(event)
    return events


def _bars_event(bars: dict[str, np.ndarray], start_s: float, end_s: float, width: int, height: int,
                p: VisualQcParams, whole: bool) -> QcEvent | None:
    med = {k: float(np.median(v)) for k, v in bars.items()}
    agree = np.ones(len(bars["top"]), bool)
    for k, v in bars.items():
        agree &= np.abs(v - med[k]) <= 0.02
    if agree.mean() < p.bar_agreement:
        return None
    horizontal = med["top"] >= p.bar_min and med["bottom"] >= p.bar_min
    vertical = med["left"] >= p.bar_min and med["right"] >= p.bar_min
    if not (horizontal or vertical):
        return None
    active_w = width * (1 - med["left"] - med["right"]) if vertical else width
    active_h = height * (1 - med["top"] - med["bottom"]) if horizontal else height
    aspect = active_w / max(active_h, 1)
    if horizontal and vertical:
        check, severity = "windowbox", Severity.warning
        what = (f"black bars on all four sides (top {med['top']:.0%}, bottom {med['bottom']:.0%}, "
                f"left {med['left']:.0%}, right {med['right']:.0%})")
    elif horizontal:
        check, severity = "letterbox", Severity.info
        what = f"letterboxed: black bars top {med['top']:.0%} and bottom {med['bottom']:.0%} of the height"
    else:
        check, severity = "pillarbox", Severity.info
        what = f"pillarboxed: black bars left {med['left']:.0%} and right {med['right']:.0%} of the width"
    where = "" if whole else f", from {start_s:.2f}s to {end_s:.2f}s"
    return QcEvent(check=check, start_s=start_s, end_s=end_s, severity=severity, value=round(aspect, 3),
                   message=f"{what}{where}; active picture about {active_w:.0f}x{active_h:.0f} "
                           f"({aspect:.2f}:1) in a {width}x{height} frame")


def _relative_luminance(luma: np.ndarray) -> np.ndarray:
    """Gamma-encoded luma (0..1) to approximately linear relative luminance."""
    return np.power(np.clip(luma, 0, 1), 2.2)


def flash_transitions(luminance: np.ndarray,
                      p: VisualQcParams = VisualQcParams()) -> list[tuple[int, int, int]]:
    """(start_frame, end_frame, direction) of each luminance swing big enough to count,
    measured between consecutive local extremes."""
    n = len(luminance)
    if n < 2:
        return []
    step = np.diff(luminance)
    sign = np.sign(np.where(np.abs(step) < 0.005, 0, step))
    out = []
    i = 0
    while i < n - 1:
        if sign[i] == 0:
            i += 1
            continue
        j = i
        while j + 1 < n - 1 and sign[j + 1] == sign[i]:
            j += 1
        a, b = luminance[i], luminance[j + 1]
        if abs(b - a) >= p.flash_delta and min(a, b) < p.flash_dark_max:
            out.append((i, j + 1, int(sign[i])))
        i = j + 1
    return out


def flashes(times: np.ndarray, luma_mean: np.ndarray, duration: float,
            p: VisualQcParams = VisualQcParams()) -> list[QcEvent]:
    """Each flash (a swing up and back down, or down and back up, within 0.5 s) as info;
    windows with more than ``flashes_per_s`` flashes in a second as errors."""
    lum = _relative_luminance(luma_mean)
    trans = flash_transitions(lum, p)
    pairs = []  # (start_frame, end_frame, swing)
    k = 0
    while k + 1 < len(trans):
        a, b = trans[k], trans[k + 1]
        if a[2] != b[2] and times[min(b[1], len(times) - 1)] - times[a[0]] <= 0.5:
            swing = float(abs(lum[a[1]] - lum[a[0]]))
            pairs.append((a[0] + 1, b[1], swing))  # from the first changed frame
            k += 2
        else:
            k += 1
    events = []
    for s, e, swing in pairs:
        start, end = _span(times, duration, s, e)
        events.append(QcEvent(check="flash", start_s=start, end_s=end, severity=Severity.info,
                              value=round(swing, 3),
                              message=f"luminance flash at {start:.2f}s "
                                      f"(relative luminance swing {swing:.2f})"))
    # Hazardous rate: transitions (half-flashes) counted in sliding one-second windows.
    starts = np.array([times[min(t[0] + 1, len(times) - 1)] for t in trans])
    hazard = []
    for i, t0 in enumerate(starts):
        inside = int(np.searchsorted(starts, t0 + 1.0, side="left") - i)
        if inside > 2 * p.flashes_per_s:
            end_idx = i + inside - 1
            hazard.append([t0, float(times[min(trans[end_idx][1], len(times) - 1)]), inside / 2])
    merged: list[list[float]] = []
    for h in hazard:
        if merged and h[0] <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], h[1])
            merged[-1][2] = max(merged[-1][2], h[2])
        else:
            merged.append(h)
    for start, end, rate in merged:
        events.append(QcEvent(check="flash_rate", start_s=start, end_s=max(end, start), severity=Severity.error,
                              value=float(rate),
                              message=f"photosensitivity risk: {rate:g} flashes within one second "
                                      f"({start:.2f}s-{end:.2f}s); more than {p.flashes_per_s} fails "
                                      "broadcast flash guidelines"))
    return events


def visual_qc_events(signals: dict[str, np.ndarray], duration: float, width: int, height: int,
                     rotation: int = 0, p: VisualQcParams = VisualQcParams()) -> list[QcEvent]:
    """Every visual QC finding of a title from its frame signals."""
    times = signals["time_s"]
    bars = {k: signals[f"bar_{k}"].astype(np.float64) for k in ("top", "bottom", "left", "right")}
    if rotation % 180 == 90:  # bars are measured on the coded picture; report them as displayed
        bars = {"top": bars["left"], "bottom": bars["right"], "left": bars["top"], "right": bars["bottom"]}
        width, height = height, width
    return (black_segments(times, signals["black_ratio"], duration, p)
            + freeze_segments(times, signals["motion"], signals["black_ratio"], duration, p)
            + letterbox(bars, duration, width, height, p, times)
            + flashes(times, signals["luma_mean"], duration, p))


QC_SIGNAL_COLUMNS = ["time_s", "luma_mean", "black_ratio", "motion",
                     "bar_top", "bar_bottom", "bar_left", "bar_right"]
