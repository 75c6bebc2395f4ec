"""Shot boundaries from the decode pass's low-resolution frames.

Three detectors sit behind :class:`ShotDetector` (``detect(frames) -> boundaries``), under one
contract (docs/shots.md): hard cuts at the new shot's first frame, dissolves and fades as one
gradual boundary with its span, black stretches held for ``black_shot_min_s`` as shots of their
own, and no boundary at flashes or inside camera or scene motion.

* :class:`ContentShotDetector` (CPU, default) works on per-frame scalars (differences between
  each 48x27 frame and the frames 1..6 and 0.5-4 s before it, luminance, black share) plus, for
  the few steps that may be cuts and their neighbours, the camera's translation and what it
  leaves unexplained (:func:`pair_motion`). It decides on time, not on one pair of frames: a cut
  is a one-frame discontinuity - a residual or a translation jump far outside the steps around
  it - where camera motion and light change continuously; gradual transitions are spans whose
  change accumulates along a straight line in pixel space and stands out from the stretches
  before and after; :func:`settle_black` applies the black-stretch rules.
  Known limits: a cut in the middle of a whip pan is missed (the steps around it are as
  unexplained as the cut); a reframe smaller than ``shift_min`` is taken for camera motion.
* ``prism.visual.transnet.TransNetShotDetector`` runs TransNetV2 on the same frames, and
  ``HybridShotDetector`` confirms and completes its transitions with the CPU signals (the model
  is loaded once per process by the ``VisualAnalysis`` resource).

Boundaries become ``shots.parquet`` rows that tile the title from 0 to its duration.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import pyarrow as pa
from numpy.lib.stride_tricks import sliding_window_view

from prism.visual.signals import frames_of

TransitionKind = Literal["cut", "gradual"]

SHOTS_SCHEMA = pa.schema(
    [
        pa.field("shot_index", pa.int32(), nullable=False),
        pa.field("start_frame", pa.int32(), nullable=False),
        pa.field("end_frame", pa.int32(), nullable=False),  # exclusive
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("transition", pa.string(), nullable=False),  # how the shot begins: start|cut|gradual
        # The gradual transition that leads into this shot (frames, end exclusive); null for cuts.
        pa.field("transition_start_frame", pa.int32()),
        pa.field("transition_end_frame", pa.int32()),
        # A black stretch (most of its frames black, see ContentParams.black_shot_min_s): cuts
        # and fades into and out of black start and end it.
        pa.field("black", pa.bool_(), nullable=False),
    ]
)


@dataclass(frozen=True)
class Boundary:
    """The first frame of a new shot, and how it begins."""

    frame: int
    kind: TransitionKind
    span_start: int | None = None  # gradual transitions: the frames the transition covers
    span_end: int | None = None  # exclusive


@dataclass
class FrameBatch:
    """A slice of the title's frames, in presentation order."""

    first_index: int
    times: np.ndarray
    luma_mean: np.ndarray
    black_ratio: np.ndarray
    rgb: np.ndarray  # (n, 27, 48, 3) uint8


class ShotDetector(Protocol):
    name: str

    def detect(self, batches: Iterable[FrameBatch], fps: float) -> list[Boundary]:
        """Boundaries of the whole title, streaming over its frames once."""
        ...


# -- features ---------------------------------------------------------------
SHORT_LAGS = 6  # lags 1..6: hard cuts and flash recovery (flashes up to 4 frames long)


def gradual_lags(fps: float) -> tuple[int, ...]:
    """Window lengths (frames) for gradual transitions: ~0.5, 1, 2 and 4 s."""
    return tuple(sorted({max(SHORT_LAGS + 1, int(round(fps * s))) for s in (0.5, 1.0, 2.0, 4.0)}))


@dataclass
class Features:
    times: np.ndarray
    luma: np.ndarray
    black: np.ndarray
    lags: tuple[int, ...]
    lag_diff: dict[int, np.ndarray]  # lag -> D(i, i-lag); NaN where i < lag
    # What is left of the step into frame i once camera motion and a lighting change are taken out,
    # and the camera's translation (dy, dx cells) over that step (see pair_motion); NaN where the
    # step is neither a possible cut nor next to one, and it was not computed.
    residual: np.ndarray | None = None
    shift: np.ndarray | None = None  # (n, 2)
    unlit: np.ndarray | None = None  # the share of the step that a change of light does not explain
    # The residual once a gain and offset per channel, fitted on the half of the frame that
    # changed least, are taken out too (see pair_motion): a local change's pull on the rest.
    refit: np.ndarray | None = None

    @property
    def count(self) -> int:
        return len(self.times)


MAX_SHIFT = (4, 16)  # largest camera motion searched between two frames, in 48x27 cells (dy, dx)
_DARK = 24  # a cell this dark in both frames is a bar or black: it says nothing about the picture


def _standardized(frame: np.ndarray) -> np.ndarray:
    """Each channel minus its mean, over its spread: the same under any change of light level."""
    f = frame.astype(np.float32)
    return (f - f.mean(axis=(0, 1))) / (f.std(axis=(0, 1)) + 4.0)  # + 4: flat frames stay flat


def _best_shifts(a: np.ndarray, b: np.ndarray, reach: int, count: int = 2) -> list[int]:
    """The shifts s for which profile ``a[i]`` best matches ``b[i - s]`` (mean |difference|)."""
    n = len(a)
    padded = np.concatenate([np.full(reach, np.nan), b, np.full(reach, np.nan)])
    rows = sliding_window_view(padded, n)[::-1]  # row k: b[i - s] for s = k - reach
    errors = np.nanmean(np.abs(a[None, :] - rows), axis=1)
    return [int(k) - reach for k in np.argsort(errors)[:count]]


def _box3(x: np.ndarray) -> np.ndarray:
    """3x3 box blur of an (H, W, C) array: sub-cell shifts and motion blur stop mattering."""
    p = np.pad(x, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = x.shape[:2]
    return sum(p[i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


def pair_motion(cur: np.ndarray, prev: np.ndarray) -> tuple[float, int, int, float, float]:
    """The camera's translation from ``prev`` to ``cur`` (48x27 RGB) and what it leaves unexplained.

    Both frames are standardized per channel (a light going up or down, a strobe, changes
    nothing) and blurred over 3x3 cells, the translation is found from row and column profiles
    (the best few candidates, each refined by one cell), and the residual is the median over
    cells of what differs after that shift (cells dark in both frames, bars, left out): a cut
    changes most of the picture (~0.8-1.0), a pan or shake leaves little once the picture is
    moved back, and an object crossing part of the frame leaves the median on the unchanged
    background (< 0.3). Returns ``(residual, dy, dx, unlit, refit)`` (cells; ``cur[y, x] ~
    prev[y - dy, x - dx]``; unlit: the share of the step a change of light does not explain;
    refit: see :func:`_refit_residual`).
    """
    a, b = _box3(_standardized(cur)), _box3(_standardized(prev))
    ga, gb = a.mean(axis=2), b.mean(axis=2)
    h, w = ga.shape
    lit_a, lit_b = cur.max(axis=2) >= _DARK, prev.max(axis=2) >= _DARK
    best, best_shift, refit = np.inf, (0, 0), 1.0
    shifts = {(0, 0)} | {(dy0 + i, dx0 + j)
                         for dy0 in _best_shifts(ga.mean(axis=1), gb.mean(axis=1), MAX_SHIFT[0])
                         for dx0 in _best_shifts(ga.mean(axis=0), gb.mean(axis=0), MAX_SHIFT[1], 3)
                         for i in (-1, 0, 1) for j in (-1, 0, 1)}
    # Every candidate shift at once: prev padded with NaN (cells moved out of the frame drop out).
    order = np.array([s for s in sorted(shifts, key=lambda s: (abs(s[0]) + abs(s[1]), s))
                      if abs(s[0]) <= h // 2 and abs(s[1]) <= w // 2])
    py, px = h // 2, w // 2
    b_pad = np.full((h + 2 * py, w + 2 * px, 3), np.nan, np.float32)
    b_pad[py:py + h, px:px + w] = b
    lit_pad = np.zeros((h + 2 * py, w + 2 * px), bool)
    lit_pad[py:py + h, px:px + w] = lit_b
    ys = np.arange(h)[None, :, None] - order[:, 0, None, None] + py
    xs = np.arange(w)[None, None, :] - order[:, 1, None, None] + px
    moved = b_pad[ys, xs]  # (k, h, w, 3)
    cells = np.abs(a[None] - moved).mean(axis=3)
    keep = (lit_a[None] | lit_pad[ys, xs]) & ~np.isnan(cells)
    enough = keep.sum(axis=(1, 2)) >= 0.25 * h * w
    if enough.any():
        # The median of each shift's kept cells (NaN sorts last; rows keep different counts).
        ranked = np.sort(np.where(keep, cells, np.nan).reshape(len(order), -1)[enough], axis=1)
        count = keep.reshape(len(order), -1)[enough].sum(axis=1)
        rows = np.arange(len(ranked))
        errors = (ranked[rows, (count - 1) // 2] + ranked[rows, count // 2]) / 2
        k = int(np.argmin(errors))
        best, best_shift = float(errors[k]), tuple(int(v) for v in order[enough][k])
        at = int(np.flatnonzero(enough)[k])
        refit = _refit_residual(a, moved[at], keep[at], cells[at], best)
    unlit = _unlit_share(cur, prev)
    return (best, *best_shift, unlit, refit) if np.isfinite(best) else (1.0, 0, 0, unlit, 1.0)


def _refit_residual(a: np.ndarray, b: np.ndarray, keep: np.ndarray, cells: np.ndarray,
                    residual: float) -> float:
    """The residual left once one gain and offset per channel, fitted (least squares) on the
    kept cells that changed least (up to the median), map ``b`` onto ``a`` as well.

    Standardizing each frame by its own mean and spread makes a local change global: a caption
    card, a logo or an object appearing on a tenth of a still frame moves the channels' mean and
    spread, and so every other cell by an amount proportional to its value - a residual of ~0.07
    on a frame whose neighbours leave ~0, a "jump" no camera motion explains. The unchanged
    background still maps exactly onto itself through a gain and offset, which this fit finds
    and takes out (~0.01 left); the cells of a punch-in or of another picture do not (a cut's
    residual barely moves). Degenerate fits (flat cells) keep ``residual``."""
    calm = keep & (cells <= residual)
    if calm.sum() < 0.25 * keep.sum():
        return residual
    x, y = b[calm], a[calm]  # (cells, 3)
    mx, my = x.mean(axis=0), y.mean(axis=0)
    var = ((x - mx) ** 2).mean(axis=0)
    if np.any(var < 1e-4):
        return residual
    gain = ((x - mx) * (y - my)).mean(axis=0) / var
    left = np.abs(a - (gain * (b - mx) + my)).mean(axis=2)[keep]
    return float(np.median(left))


def _unlit_share(cur: np.ndarray, prev: np.ndarray) -> float:
    """The share of the step that one gain per colour channel does not explain: a light going
    up or down, or changing colour, multiplies each channel (~0.01-0.05 left, clipping aside);
    a new picture or framing leaves most of the step (0.5-1.0)."""
    c = cur.reshape(-1, 3).astype(np.float32)
    p = prev.reshape(-1, 3).astype(np.float32)
    step = float(np.abs(c - p).mean())
    if step <= 0.0:
        return 0.0
    gain = (c * p).sum(axis=0) / ((p * p).sum(axis=0) + 1e-6)
    return float(np.abs(c - gain * p).mean()) / step


def motion_residual(cur: np.ndarray, prev: np.ndarray) -> float:
    """What camera translation and lighting leave unexplained of the step (see :func:`pair_motion`)."""
    return pair_motion(cur, prev)[0]


@dataclass(frozen=True)
class CutStepTest:
    """Which steps may be cuts, on step sizes alone: at least ``min_step``, and either ``ratio``
    times the motion level within ``half`` frames or ``peak`` times both neighbouring steps (a
    cut inside fast motion, whose level is as high as the cut's own step). Only these steps,
    and the ``NEIGHBOURS`` steps on each side of them, get a :func:`pair_motion`."""

    min_step: float
    ratio: float
    half: int
    peak: float = 1.25

    def mask(self, d1: np.ndarray) -> np.ndarray:
        neighbours = np.maximum(np.r_[0.0, d1[:-1]], np.r_[d1[1:], 0.0])
        return (d1 >= self.min_step) & ((d1 >= self.ratio * _local_level(d1, self.half))
                                        | (d1 >= self.peak * neighbours))


NEIGHBOURS = 3  # motion is compared with this many steps before and after a candidate


def frame_features(batches: Iterable[FrameBatch], lags: Iterable[int],
                   cut_steps: CutStepTest | None = None) -> Features:
    """Lagged frame differences, streaming: only ``max(lags)`` frames are kept between batches.
    With ``cut_steps``, the steps that pass it and ``NEIGHBOURS`` steps on each side also get a
    :func:`pair_motion` (the step test needs the motion level up to ``half`` frames ahead: the
    last ``half`` frames of a batch are tested on the step's size alone, a superset)."""
    lags = tuple(sorted(set(lags) | ({1} if cut_steps is not None else set())))
    keep = max(max(lags), NEIGHBOURS + 2)
    carry = np.zeros((0, 27, 48, 3), np.int16)
    times, luma, black = [], [], []
    motion: dict[int, tuple[float, int, int, float, float]] = {}  # step index -> pair_motion
    pending: set[int] = set()  # steps wanted whose frame has not arrived yet
    total = 0  # frames seen before this batch
    d1_tail = np.zeros(0, np.float32)  # the steps before this batch, for the motion level
    diffs: dict[int, list[np.ndarray]] = {k: [] for k in lags}
    for batch in batches:
        cur = batch.rgb.astype(np.int16)
        both = np.concatenate([carry, cur])
        offset = len(carry)
        n = len(cur)
        for k in lags:
            out = np.full(n, np.nan, np.float32)
            start = max(0, k - offset)  # first row of cur with a frame k back
            if start < n:
                a = both[offset + start:offset + n]
                b = both[offset + start - k:offset + n - k]
                out[start:] = np.abs(a - b).mean(axis=(1, 2, 3)) / 255.0
            diffs[k].append(out)
        if cut_steps is not None:
            d1 = np.nan_to_num(diffs[1][-1], nan=0.0)
            context = np.concatenate([d1_tail, d1])
            maybe = cut_steps.mask(context)[len(d1_tail):]
            # (the last steps' level and next step are not known yet: a superset)
            maybe[-cut_steps.half - 1:] |= d1[-cut_steps.half - 1:] >= cut_steps.min_step
            wanted = set(pending)
            for i in np.flatnonzero(maybe).tolist():
                wanted.update(range(total + i - NEIGHBOURS, total + i + NEIGHBOURS + 1))
            pending = set()
            first = total - offset  # the global index of both[0]
            for j in sorted(wanted):
                if j < 1 or j in motion:
                    continue
                if j >= total + n:
                    pending.add(j)
                elif j - 1 >= first:
                    motion[j] = pair_motion(both[j - first].astype(np.uint8),
                                            both[j - 1 - first].astype(np.uint8))
            d1_tail = context[-2 * cut_steps.half - 2:]
        times.append(batch.times)
        luma.append(batch.luma_mean)
        black.append(batch.black_ratio)
        carry = both[-keep:]
        total += n
    if not times:
        empty = np.zeros(0, np.float32)
        return Features(empty.astype(np.float64), empty, empty, lags, {k: empty for k in lags})
    features = Features(np.concatenate(times), np.concatenate(luma).astype(np.float32),
                        np.concatenate(black).astype(np.float32), lags,
                        {k: np.concatenate(v) for k, v in diffs.items()})
    if cut_steps is not None:
        features.residual = np.full(total, np.nan, np.float32)
        features.shift = np.full((total, 2), np.nan, np.float32)
        features.unlit = np.full(total, np.nan, np.float32)
        features.refit = np.full(total, np.nan, np.float32)
        for j, (r, dy, dx, unlit, refit) in motion.items():
            if j < total:
                features.residual[j], features.shift[j], features.unlit[j] = r, (dy, dx), unlit
                features.refit[j] = refit
    return features


# -- the CPU detector -------------------------------------------------------
@dataclass(frozen=True)
class ContentParams:
    # Which steps are looked at (CutStepTest): a step of at least step_min (mean |RGB|/255 of the
    # 48x27 frames; compression noise and grain stay below ~0.01, a punch-in of 10 % on a real
    # photograph changes ~0.02) that stands cut_ratio times above the motion level around it,
    # or step_peak times above both neighbouring steps.
    step_min: float = 0.012
    cut_ratio: float = 3.0
    step_peak: float = 1.25
    flash_return: float = 0.4  # a spike whose picture comes back within 6 frames to within this share
    # A cut is a one-frame discontinuity in time; camera motion and light are continuous. Decided
    # on pair_motion (what camera translation and light leave of a step) at the step and at the
    # NEIGHBOURS steps on each side:
    # - the residual stands out: at least residual_min and residual_jump times the largest of
    #   its neighbours' (a punch-in or a cut to another scene leaves 0.2-1.0 once, a pan, shake,
    #   strobe or crossing object leaves little at every step, a whip pan's blur as much at the
    #   steps around it as at this one);
    residual_min: float = 0.04
    residual_jump: float = 2.5
    #   ... unless one gain per colour channel explains all but light_share of the step: a light
    #   jumping to another level or colour (a strobe saturates parts of the picture and leaves
    #   a residual, but ~0.01-0.05 of its step is unlit; a punch-in or another picture 0.5-1.0);
    light_share: float = 0.25
    #   ... and only when the residual still stands out once the rest of the frame is refitted
    #   (Features.refit): on a still or slow shot the neighbours' residual is ~0, so a caption,
    #   logo or graphic appearing, or an object entering, whose only pull on the rest of the
    #   frame is through its mean and spread, would otherwise be a large relative jump;
    # - the translation jumps: a reframe is explained by a shift, but one far outside the shifts
    #   before and after it: at least shift_min of the frame and shift_jump times the spread of
    #   the neighbours' shifts plus one cell (the estimate's resolution); shake jitters as much
    #   at every step, a pan or whip pan changes speed smoothly;
    shift_min: float = 0.08
    shift_jump: float = 3.0
    # - or, as before, the picture changed and no motion or light explains it: a residual of at
    #   least cut_residual at a step of at least cut_min and cut_ratio times the motion level.
    cut_min: float = 0.05
    cut_residual: float = 0.5
    gradual_min: float = 0.08  # a gradual transition changes the picture at least this much
    straightness: float = 0.65  # end-to-end distance / path length over a gradual span
    gradual_peak: float = 0.35  # no single step may carry more than this share of the change
    gradual_contrast: float = 1.8  # the span changes this many times more than the same-length
    # stretches right before and after it (a transition begins and ends; a pan goes on)
    black_ratio: float = 0.98  # black frame: this share of samples below 10 % luma
    # A black stretch this long is a shot of its own (a quarter of a second is seen as black, not
    # as a blink between two shots); shorter black is a dip inside the transition around it.
    black_shot_min_s: float = 0.25
    black_level_tol: float = 0.02  # frames within this of a black run's darkest luma hold its black level
    merge_gap_s: float = 0.2  # transitions this close to a black run join it


def _local_level(d1: np.ndarray, half: int) -> np.ndarray:
    """Median frame-to-frame change within ``half`` frames of each frame, leaving out the
    frame and its direct neighbours (so a spike does not raise its own baseline)."""
    padded = np.pad(d1.astype(np.float32), half, mode="edge")
    windows = sliding_window_view(padded, 2 * half + 1)
    keep = np.r_[0:half - 1, half + 2:2 * half + 1]
    out = np.empty(len(d1), np.float32)
    for s in range(0, len(d1), 8192):  # bounded temporaries on long titles
        out[s:s + 8192] = np.median(windows[s:s + 8192][:, keep], axis=1)
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    if not len(mask):
        return []
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


class ContentShotDetector:
    name = "cpu"

    def __init__(self, params: ContentParams | None = None):
        self.params = params or ContentParams()

    def detect(self, batches: Iterable[FrameBatch], fps: float) -> list[Boundary]:
        fps = fps if fps and fps > 0 else 25.0
        lags = tuple(range(1, SHORT_LAGS + 1)) + gradual_lags(fps)
        return self.detect_features(frame_features(batches, lags, self.cut_steps(fps)), fps)

    def cut_steps(self, fps: float) -> CutStepTest:
        p = self.params
        return CutStepTest(p.step_min, p.cut_ratio, max(4, int(round(fps / 2))), p.step_peak)

    # The detector proper works on the features alone (O(frames) scalars).
    def detect_features(self, f: Features, fps: float) -> list[Boundary]:
        p = self.params
        n = f.count
        if n < 2:
            return []
        black = f.black >= p.black_ratio
        cuts, graduals = self.components(f, fps)
        boundaries = settle_black(n, cuts, graduals, black, fps, f.luma, p)
        return [b for b in boundaries if 0 < b.frame < n]

    def components(self, f: Features, fps: float) -> tuple[list[int], list[tuple[int, int]]]:
        """Cut frames and gradual spans, before the black-stretch rules (settle_black)."""
        d1 = np.nan_to_num(f.lag_diff[1], nan=0.0)
        black = f.black >= self.params.black_ratio
        cuts = self._cuts(f, d1, fps)
        graduals = self._graduals(f, d1, cuts, black, fps, black_shots(black, f.luma, fps, self.params))
        return cuts, graduals

    def _cuts(self, f: Features, d1: np.ndarray, fps: float) -> list[int]:
        steps = self.cut_steps(fps)
        cand = np.flatnonzero(steps.mask(d1)).tolist()
        level = _local_level(d1, steps.half)
        cuts = []
        for i in cand:
            if self.flash(f, d1, i) or not self._discontinuity(f, d1, level, i):
                continue
            if cuts and i - cuts[-1] < 2 and d1[i] <= d1[cuts[-1]]:
                continue
            if cuts and i - cuts[-1] < 2:
                cuts[-1] = i
                continue
            cuts.append(i)
        return cuts

    def flash(self, f: Features, d1: np.ndarray, i: int) -> bool:
        """Whether the step into frame ``i`` is a flash (or a white frame): the picture after
        the spike returns to the one before it, or the spike ends one and this picture matches
        one from just before."""
        n = len(d1)
        returns = [f.lag_diff[j + 1][i + j] for j in range(1, SHORT_LAGS) if i + j < n]
        matches = [f.lag_diff[j + 1][i] for j in range(1, SHORT_LAGS) if i - j - 1 >= 0]
        recovered = min([x for x in returns + matches if not np.isnan(x)], default=np.inf)
        return bool(recovered < self.params.flash_return * d1[i])

    def _discontinuity(self, f: Features, d1: np.ndarray, level: np.ndarray, i: int) -> bool:
        """Whether the step into frame ``i`` breaks the motion and picture of the steps around it."""
        p = self.params
        if f.residual is None or np.isnan(f.residual[i]):
            return bool(d1[i] >= p.cut_min and d1[i] >= p.cut_ratio * level[i])  # nothing to re-check
        n = len(d1)
        r = float(f.residual[i])
        near = [j for j in range(i - NEIGHBOURS, i + NEIGHBOURS + 1) if j != i and 1 <= j < n
                and not np.isnan(f.residual[j])]
        if r >= p.cut_residual and d1[i] >= p.cut_min and d1[i] >= p.cut_ratio * level[i]:
            return True
        # (the step and its neighbours alike: what stands out once each is refitted)
        refit = min(r, float(f.refit[i]))
        around_refit = max((min(float(f.residual[j]), float(f.refit[j])) for j in near), default=0.0)
        if (refit >= p.residual_min and refit >= p.residual_jump * around_refit
                and f.unlit[i] > p.light_share):
            return True
        if len(near) < 2 or r >= p.cut_residual:
            return False
        shifts = f.shift[near]
        centre = np.median(shifts, axis=0)
        spread = np.abs(shifts - centre).max(axis=0)
        jump = np.abs(f.shift[i] - centre)
        size = np.array([27.0, 48.0])
        return bool(np.any((jump >= p.shift_min * size) & (jump >= p.shift_jump * spread + 1.0)))

    def _graduals(self, f: Features, d1: np.ndarray, cuts: list[int], black: np.ndarray, fps: float,
                  black_spans: list[tuple[int, int, Boundary | None, Boundary | None]] = ()
                  ) -> list[tuple[int, int]]:
        """Spans [start, end) of gradual transitions, outside the black shots and the ways into
        and out of them (settled by settle_black)."""
        p = self.params
        n = len(d1)
        csum = np.concatenate([[0.0], np.cumsum(d1)])
        covered = np.zeros(n, bool)
        cut_mask = np.zeros(n + 1, np.int32)
        cut_mask[np.asarray(cuts, dtype=np.intp)] = 1
        cut_count = np.concatenate([[0], np.cumsum(cut_mask)])
        # Windows that reach into a black shot or the fades around it are left to settle_black.
        gap = max(1, int(round(p.merge_gap_s * fps)))
        claimed = np.zeros(n + 1, np.int32)
        for lo, hi, _, _ in black_spans:
            claimed[max(0, lo - gap):max(0, hi + gap)] = 1
        claimed_count = np.concatenate([[0], np.cumsum(claimed)])
        for lag in f.lags:
            if lag <= SHORT_LAGS or lag >= n:
                continue
            end = np.arange(lag, n)
            start = end - lag
            chord = f.lag_diff[lag][lag:]
            path = csum[end + 1] - csum[start + 1]
            # The largest single step inside (start, end].
            peak = sliding_window_view(d1[1:], lag).max(axis=1)[: len(end)]
            has_cut = ((cut_count[end + 1] - cut_count[start + 1]) > 0) | (
                (claimed_count[end + 1] - claimed_count[start]) > 0)
            lagged = np.nan_to_num(f.lag_diff[lag], nan=0.0)
            # The same-length stretches right before and after, counted by their straight-line
            # change (chord x chord/path): a pan over smooth texture changes the picture along a
            # line as a transition does and counts in full; motion over detail (a tilt, shake,
            # a fast pan) wanders - its chord saturates while its path keeps growing - and counts
            # for what a transition would have to beat: its straight part.
            padded = np.concatenate([lagged, np.zeros(lag)])
            path_at = np.concatenate([csum[1:], np.full(lag, csum[-1])])
            before = lagged[start]  # D(start, start - lag)
            before_path = csum[start + 1] - csum[np.maximum(start - lag, 0) + 1]
            after = padded[end + lag]  # D(end + lag, end)
            after_path = path_at[end + lag] - csum[end + 1]
            # (Only a steady stretch that changes the picture as much as a transition would: below
            # that, its path is mostly coding noise, not motion. And the span must still change
            # the picture at least as much as either stretch does outright.)
            raw = np.maximum(before, after)
            # The largest single step of each stretch: steady motion has none that stands out;
            # a whip pan or a cut inside a stretch is no steady motion and counts in full.
            padded_d1 = np.concatenate([np.zeros(lag), d1[1:], np.zeros(2 * lag)])
            steps = sliding_window_view(padded_d1, lag).max(axis=1)
            peak_before, peak_after = steps[start], steps[end + lag]
            steady_before = (before >= p.gradual_min) & (peak_before <= p.gradual_peak * before)
            steady_after = (after >= p.gradual_min) & (peak_after <= p.gradual_peak * after)
            before = np.where(steady_before, before * np.minimum(1.0, before / np.maximum(before_path, 1e-6)),
                              before)
            after = np.where(steady_after, after * np.minimum(1.0, after / np.maximum(after_path, 1e-6)), after)
            ok = ((chord >= p.gradual_min) & (chord >= p.straightness * path)
                  & (peak <= p.gradual_peak * chord)
                  & (chord >= p.gradual_contrast * np.maximum(before, after)) & (chord >= raw) & ~has_cut)
            for s, e in zip(start[ok].tolist(), end[ok].tolist(), strict=True):
                covered[s + 1:e + 1] = True
        spans = []
        for s, e in _runs(covered):
            # The union of qualifying windows overshoots the transition by up to a window on
            # each side: keep the frames whose step stands above the motion level around it.
            seg = d1[s:e]
            reach = max(f.lags)
            around = np.concatenate([d1[max(0, s - reach):s], d1[e:e + reach]])
            base = float(np.median(around)) if len(around) else 0.0
            top = float(np.percentile(seg, 75))
            if top <= base:
                spans.append((s, e))
                continue
            # The transition is the run of active frames carrying the most change; isolated
            # blips (e.g. an I-frame's quality step) beside it are not part of it.
            active = (seg > base + 0.3 * (top - base)) | black[s:e]  # a fade's black middle belongs
            runs = _runs(active)
            merged: list[list[int]] = []
            for a, b in runs:
                if merged and a - merged[-1][1] <= 3:
                    merged[-1][1] = b
                else:
                    merged.append([a, b])
            a, b = max(merged, key=lambda r: float(seg[r[0]:r[1]].sum()))
            spans.append((s + a, s + b))
        return spans

def settle_black(n: int, cuts: list[int], graduals: list[tuple[int, int]], black: np.ndarray,
                 fps: float, luma: np.ndarray | None = None,
                 params: ContentParams | None = None) -> list[Boundary]:
    """Black stretches of at least ``black_shot_min_s`` are shots of their own: the way into
    and out of each is a cut at its frame, or a gradual transition over the luminance ramp
    (a fade). Shorter black runs between shots absorb the fades and cuts around them: one
    boundary (a cut next to one or two black frames is still a cut)."""
    p = params or ContentParams()
    gap = max(1, int(round(p.merge_gap_s * fps)))
    luma = np.zeros(n, np.float32) if luma is None else luma
    out: list[Boundary] = []
    claimed: list[tuple[int, int]] = []  # frames whose boundaries the black shots decide
    runs = _runs(black)
    for lo, hi, entry, exit_ in black_shots(black, luma, fps, p):
        out += [b for b in (entry, exit_) if b is not None]
        claimed.append((lo - gap, hi + gap))

    def free(s: int, e: int) -> bool:
        return not any(s < ce and e > cs for cs, ce in claimed)

    events: list[tuple[int, int, str]] = [(c, c + 1, "cut") for c in cuts if free(c, c + 1)]
    events += [(s, e, "gradual") for s, e in graduals if free(s, e)]
    events += [(s, e, "black") for s, e in runs if free(s, e)]
    events.sort()
    merged: list[list] = []
    for s, e, kind in events:
        if merged and s <= merged[-1][1] + gap and ("black" in merged[-1][2] or kind == "black"
                                                     or kind == merged[-1][2] == "gradual"):
            merged[-1][1] = max(merged[-1][1], e)
            merged[-1][2].add(kind)
        else:
            merged.append([s, e, {kind}])
    for s, e, kinds in merged:
        if kinds == {"cut"}:
            out.append(Boundary(s, "cut"))
            continue
        if "black" in kinds and (s == 0 or e >= n):
            continue  # a short black lead-in or tail: part of the first/last shot
        if kinds == {"black", "cut"} and e - s <= 2:
            # a cut next to a single black frame is still a cut
            out.append(Boundary(min(c for c in cuts if s <= c < e + 1) if any(
                s <= c < e + 1 for c in cuts) else s, "cut"))
            continue
        out.append(Boundary((s + e) // 2, "gradual", s, e))
    by_frame = {b.frame: b for b in sorted(out, key=lambda b: b.kind == "cut")}  # cuts win a tie
    return sorted(by_frame.values(), key=lambda b: b.frame)


def black_shots(black: np.ndarray, luma: np.ndarray | None, fps: float, params: ContentParams | None = None
                ) -> list[tuple[int, int, Boundary | None, Boundary | None]]:
    """The black stretches that are shots of their own (they hold the black level for at least
    ``black_shot_min_s``; a fade's dark frames count as black frames too, but a dip to black -
    fade out, fade in - never holds it), each as (first frame of the way in, end of the way
    out, the boundary into it, the boundary out of it; None at the title's start or end)."""
    p = params or ContentParams()
    n = len(black)
    min_black = max(2, int(round(p.black_shot_min_s * fps)))
    luma = np.zeros(n, np.float32) if luma is None else luma
    out = []
    for bs, be in _runs(black):
        floor = float(luma[bs:be].min()) + p.black_level_tol
        if int((luma[bs:be] <= floor).sum()) < min_black:
            continue
        lo, hi, entry, exit_ = bs, be, None, None
        if bs > 0:
            entry = _edge(luma, bs, be, floor)
            lo = entry.span_start if entry.kind == "gradual" else bs
        if be < n:
            # The way out is the way in, read backwards.
            r = _edge(luma[::-1].copy(), n - be, n - bs, floor)
            if r.kind == "gradual":
                s0, s1 = n - r.span_end, n - r.span_start
                exit_ = Boundary((s0 + s1) // 2, "gradual", s0, s1)
                hi = s1
            else:
                exit_ = Boundary(be, "cut")
        out.append((lo, hi, entry, exit_))
    return out


def _edge(luma: np.ndarray, bs: int, be: int, floor: float, tol: float = 0.002) -> Boundary:
    """How the picture enters the black run [bs, be): a fade (a luminance ramp down to the black
    level, no step carrying half of it) as a gradual boundary over the ramp, else a cut at ``bs``."""
    end = bs  # the ramp reaches the black level here (dark ramp frames count as black already)
    while end + 1 < be and luma[end] > floor and luma[end + 1] < luma[end] - tol:
        end += 1
    start = bs
    while start > 0 and luma[start - 1] > luma[start] + tol:
        start -= 1
    drop = float(luma[start] - luma[end])
    steps = -np.diff(luma[start:end + 1])
    if end - start >= 3 and drop > 0.02 and float(steps.max(initial=0.0)) <= 0.5 * drop:
        return Boundary((start + end + 1) // 2, "gradual", start, end + 1)
    return Boundary(bs, "cut")


# -- from boundaries to shots -------------------------------------------------
def shots_table(boundaries: list[Boundary], times: np.ndarray, duration_s: float,
                black_ratio: np.ndarray | None = None, black_frame: float = 0.98) -> pa.Table:
    """Shots that tile [0, duration): shot k covers [boundary k, boundary k+1). With the frames'
    ``black_ratio`` (frame_signals), a shot most of whose frames are black is marked ``black``."""
    n = len(times)
    is_black = (np.zeros(n, bool) if black_ratio is None
                else np.asarray(black_ratio, np.float32)[:n] >= black_frame)
    starts = [0] + sorted({b.frame for b in boundaries if 0 < b.frame < n})
    by_frame = {b.frame: b for b in boundaries}
    rows = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else n
        b = by_frame.get(start)
        rows.append({
            "shot_index": k,
            "start_frame": start,
            "end_frame": end,
            "start_s": 0.0 if k == 0 else float(times[start]),
            "end_s": float(times[end]) if end < n else float(duration_s),
            "transition": "start" if k == 0 else b.kind,
            "transition_start_frame": b.span_start if b is not None and b.kind == "gradual" else None,
            "transition_end_frame": b.span_end if b is not None and b.kind == "gradual" else None,
            "black": bool(is_black[start:end].mean() > 0.5) if end > start else False,
        })
    return pa.Table.from_pylist(rows, schema=SHOTS_SCHEMA)


def tiling_problems(shots: pa.Table, frame_count: int, duration_s: float, tol: float = 1e-6) -> list[str]:
    """Why the shots do not tile the title exactly (empty when they do)."""
    rows = shots.to_pylist()
    problems = []
    if not rows:
        return ["no shots"]
    if rows[0]["start_frame"] != 0 or abs(rows[0]["start_s"]) > tol:
        problems.append("the first shot does not start at frame 0 / 0 s")
    if rows[-1]["end_frame"] != frame_count:
        problems.append(f"the last shot ends at frame {rows[-1]['end_frame']}, not {frame_count}")
    if abs(rows[-1]["end_s"] - duration_s) > 1e-3:
        problems.append(f"the last shot ends at {rows[-1]['end_s']:.3f}s, not {duration_s:.3f}s")
    for a, b in zip(rows, rows[1:], strict=False):
        if a["end_frame"] != b["start_frame"] or abs(a["end_s"] - b["start_s"]) > tol:
            problems.append(f"gap or overlap between shots {a['shot_index']} and {b['shot_index']}")
    for r in rows:
        if r["end_frame"] <= r["start_frame"] or r["end_s"] <= r["start_s"]:
            problems.append(f"shot {r['shot_index']} is empty")
    return problems


def batches_from_parquet(path_or_file, batch_frames: int = 2048) -> Iterator[FrameBatch]:
    """Stream ``frame_signals.parquet`` as frame batches."""
    from prism.storage import iter_parquet

    for rb in iter_parquet(path_or_file, batch_size=batch_frames,
                           columns=["frame_index", "time_s", "luma_mean", "black_ratio", "rgb_48x27"]):
        yield FrameBatch(
            first_index=int(rb.column(0)[0].as_py()),
            times=rb.column(1).to_numpy(),
            luma_mean=rb.column(2).to_numpy(),
            black_ratio=rb.column(3).to_numpy(),
            rgb=frames_of(rb.column(4)),
        )
