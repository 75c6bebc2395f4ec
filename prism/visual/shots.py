"""Shot boundaries from the decode pass's low-resolution frames.

Two detectors sit behind :class:`ShotDetector` (``detect(frames) -> boundaries``):

* :class:`ContentShotDetector` (CPU, default) works on a handful of per-frame
  scalars: differences between each 48x27 frame and the frames 1..L and a few
  longer lags before it, plus luminance. It finds
  - hard cuts: a one-frame jump that stands out from the local motion level,
    unless the picture returns to what it was within a few frames (a camera
    flash or a white frame), or camera motion and light explain it: for the few
    frames whose step is large enough to be a cut, the two 48x27 frames are
    compared again after a change of light level/colour and the camera's
    translation are taken out (:func:`motion_residual`) - so flashes, whip pans,
    shake, an object crossing part of the frame and strobing light do not cut a
    shot, while a punch-in on the same scene still does;
  - gradual transitions (dissolves, fades), at window lengths of 0.5-4 s: spans
    whose change accumulates along a straight line in pixel space (the distance
    between the span's end frames is close to the sum of its frame-to-frame
    steps) and that change the picture clearly more than the same-length
    stretches right before and after them (a transition begins and ends; a pan
    goes on);
  - fades through black and black gaps: runs of black frames between two
    shots, merged with the fades and cuts that enter and leave them, become one
    gradual boundary.
  Known limits: a dissolve next to fast camera motion (say, half the picture width
  per second) is not told apart from the motion: the motion's own frame-to-frame
  change is as large as the transition's, and the dissolve is missed rather than
  the pan being cut (PySceneDetect misses it too). A cut between two framings that
  differ only by a shift or by the light (the same static view re-framed or
  re-lit) is taken for motion; a punch-in (which leaves less than a cut between
  different scenes) is kept when its step stands alone, not in the middle of
  fast motion.
* ``prism.visual.transnet.TransNetShotDetector`` runs TransNetV2 on the same frames
  (the model is loaded once per process by the ``VisualAnalysis`` resource).

Boundaries become ``shots.parquet`` rows that tile the title from 0 to its
duration.
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
    # What is left of the step into frame i once camera motion and a lighting change are taken out
    # (see motion_residual); NaN where the step is too small to be a cut and it was not computed.
    residual: np.ndarray | None = None

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
    errors = [float(np.abs(a[max(0, s):n + min(0, s)] - b[max(0, -s):n - max(0, s)]).mean())
              for s in range(-reach, reach + 1)]
    return [int(k) - reach for k in np.argsort(errors)[:count]]


def _box3(x: np.ndarray) -> np.ndarray:
    """3x3 box blur of an (H, W, C) array: sub-cell shifts and motion blur stop mattering."""
    p = np.pad(x, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = x.shape[:2]
    return sum(p[i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


def motion_residual(cur: np.ndarray, prev: np.ndarray) -> float:
    """How much of the step from ``prev`` to ``cur`` (48x27 RGB) camera motion and lighting do not explain.

    Both frames are standardized per channel (a light going up or down, a strobe, changes
    nothing) and blurred over 3x3 cells, the camera's translation is found from row and column
    profiles (the best few candidates, each refined by one cell), and the result is the median
    over cells of what differs after that shift (cells dark in both frames, bars, left out): a
    cut changes most of the picture (~0.8-1.0), a pan, a whip pan or shake leaves little once
    the picture is moved back, and an object crossing part of the frame leaves the median on
    the unchanged background (< 0.3).
    """
    a, b = _box3(_standardized(cur)), _box3(_standardized(prev))
    ga, gb = a.mean(axis=2), b.mean(axis=2)
    h, w = ga.shape
    lit_a, lit_b = cur.max(axis=2) >= _DARK, prev.max(axis=2) >= _DARK
    best = np.inf
    shifts = {(0, 0)} | {(dy0 + i, dx0 + j)
                         for dy0 in _best_shifts(ga.mean(axis=1), gb.mean(axis=1), MAX_SHIFT[0])
                         for dx0 in _best_shifts(ga.mean(axis=0), gb.mean(axis=0), MAX_SHIFT[1], 3)
                         for i in (-1, 0, 1) for j in (-1, 0, 1)}
    for dy, dx in shifts:
        if abs(dy) > h // 2 or abs(dx) > w // 2:
            continue
        ya, yb = slice(max(0, dy), h + min(0, dy)), slice(max(0, -dy), h - max(0, dy))
        xa, xb = slice(max(0, dx), w + min(0, dx)), slice(max(0, -dx), w - max(0, dx))
        keep = lit_a[ya, xa] | lit_b[yb, xb]
        if keep.sum() < 0.25 * h * w:
            continue
        cells = np.abs(a[ya, xa] - b[yb, xb]).mean(axis=2)[keep]
        best = min(best, float(np.median(cells)))
    return best if np.isfinite(best) else 1.0


@dataclass(frozen=True)
class CutStepTest:
    """The cut test on step sizes alone: a step of at least ``min_step`` and ``ratio`` times the
    motion level within ``half`` frames. Only the steps that pass get a :func:`motion_residual`."""

    min_step: float
    ratio: float
    half: int

    def mask(self, d1: np.ndarray) -> np.ndarray:
        return (d1 >= self.min_step) & (d1 >= self.ratio * _local_level(d1, self.half))


def frame_features(batches: Iterable[FrameBatch], lags: Iterable[int],
                   cut_steps: CutStepTest | None = None) -> Features:
    """Lagged frame differences, streaming: only ``max(lags)`` frames are kept between batches.
    With ``cut_steps``, the frames whose step from the previous one passes it also get a
    :func:`motion_residual` (the step test needs the motion level up to ``half`` frames ahead:
    the last ``half`` frames of a batch are tested on the step's size alone)."""
    lags = tuple(sorted(set(lags) | ({1} if cut_steps is not None else set())))
    keep = max(lags)
    carry = np.zeros((0, 27, 48, 3), np.int16)
    times, luma, black, residual = [], [], [], []
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
            maybe[-cut_steps.half:] |= d1[-cut_steps.half:] >= cut_steps.min_step  # level not known yet
            res = np.full(n, np.nan, np.float32)
            for i in np.flatnonzero(maybe).tolist():
                j = offset + i
                if j >= 1:
                    res[i] = motion_residual(both[j].astype(np.uint8), both[j - 1].astype(np.uint8))
            residual.append(res)
            d1_tail = context[-2 * cut_steps.half:]
        times.append(batch.times)
        luma.append(batch.luma_mean)
        black.append(batch.black_ratio)
        carry = both[-keep:]
    if not times:
        empty = np.zeros(0, np.float32)
        return Features(empty.astype(np.float64), empty, empty, lags, {k: empty for k in lags})
    return Features(np.concatenate(times), np.concatenate(luma).astype(np.float32),
                    np.concatenate(black).astype(np.float32), lags,
                    {k: np.concatenate(v) for k, v in diffs.items()},
                    np.concatenate(residual) if residual else None)


# -- the CPU detector -------------------------------------------------------
@dataclass(frozen=True)
class ContentParams:
    cut_min: float = 0.05  # a cut changes the 48x27 picture by at least this much (mean |RGB|/255)
    cut_ratio: float = 3.0  # ... and by this many times the local motion level
    flash_return: float = 0.4  # a spike whose picture comes back within 6 frames to within this share
    # ... and what is left of it once camera motion and light are taken out (motion_residual) is
    # at least cut_residual, or at least motion_residual_max for a spike that stands alone
    # (cut_isolation times its neighbouring steps): a punch-in on the same scene leaves ~0.4,
    # a step inside a whip pan as much, but its neighbours move just as fast.
    cut_residual: float = 0.5
    motion_residual_max: float = 0.3
    cut_isolation: float = 2.0
    gradual_min: float = 0.08  # a gradual transition changes the picture at least this much
    straightness: float = 0.65  # end-to-end distance / path length over a gradual span
    gradual_peak: float = 0.35  # no single step may carry more than this share of the change
    gradual_contrast: float = 1.8  # the span changes this many times more than the same-length
    # stretches right before and after it (a transition begins and ends; a pan goes on)
    black_ratio: float = 0.98  # black frame: this share of samples below 10 % luma
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
        return CutStepTest(self.params.cut_min, self.params.cut_ratio, max(4, int(round(fps / 2))))

    # The detector proper works on the features alone (O(frames) scalars).
    def detect_features(self, f: Features, fps: float) -> list[Boundary]:
        p = self.params
        n = f.count
        if n < 2:
            return []
        d1 = np.nan_to_num(f.lag_diff[1], nan=0.0)
        black = f.black >= p.black_ratio

        cuts = self._cuts(f, d1, fps)
        graduals = self._graduals(f, d1, cuts, black)
        boundaries = self._merge_black(n, cuts, graduals, black, fps)
        return [b for b in boundaries if 0 < b.frame < n]

    def _cuts(self, f: Features, d1: np.ndarray, fps: float) -> list[int]:
        p = self.params
        n = len(d1)
        cand = self.cut_steps(fps).mask(d1)
        if f.residual is not None:
            # Camera motion (pans, whip pans, shake), an object crossing part of the frame and
            # changing light are explained away; a cut is not.
            neighbours = np.maximum(np.r_[0.0, d1[:-1]], np.r_[d1[1:], 0.0])
            alone = d1 >= p.cut_isolation * neighbours
            residual = np.nan_to_num(f.residual, nan=np.inf)
            cand &= (residual >= p.cut_residual) | (alone & (residual >= p.motion_residual_max))
        cand = np.flatnonzero(cand)
        cuts = []
        for i in cand.tolist():
            # A flash: the picture after the spike returns to the one before it ...
            returns = [f.lag_diff[j + 1][i + j] for j in range(1, SHORT_LAGS) if i + j < n]
            # ... or the spike ends a flash: this picture matches one from just before.
            matches = [f.lag_diff[j + 1][i] for j in range(1, SHORT_LAGS) if i - j - 1 >= 0]
            recovered = min([x for x in returns + matches if not np.isnan(x)], default=np.inf)
            if recovered < p.flash_return * d1[i]:
                continue
            if cuts and i - cuts[-1] < 2 and d1[i] <= d1[cuts[-1]]:
                continue
            if cuts and i - cuts[-1] < 2:
                cuts[-1] = i
                continue
            cuts.append(i)
        return cuts

    def _graduals(self, f: Features, d1: np.ndarray, cuts: list[int],
                  black: np.ndarray) -> list[tuple[int, int]]:
        """Spans [start, end) of gradual transitions."""
        p = self.params
        n = len(d1)
        csum = np.concatenate([[0.0], np.cumsum(d1)])
        covered = np.zeros(n, bool)
        cut_mask = np.zeros(n + 1, np.int32)
        cut_mask[np.asarray(cuts, dtype=np.intp)] = 1
        cut_count = np.concatenate([[0], np.cumsum(cut_mask)])
        for lag in f.lags:
            if lag <= SHORT_LAGS or lag >= n:
                continue
            end = np.arange(lag, n)
            start = end - lag
            chord = f.lag_diff[lag][lag:]
            path = csum[end + 1] - csum[start + 1]
            # The largest single step inside (start, end].
            peak = sliding_window_view(d1[1:], lag).max(axis=1)[: len(end)]
            has_cut = (cut_count[end + 1] - cut_count[start + 1]) > 0
            lagged = np.nan_to_num(f.lag_diff[lag], nan=0.0)
            before = lagged[start]  # D(start, start - lag)
            after = np.concatenate([lagged, np.zeros(lag)])[end + lag]  # D(end + lag, end)
            ok = ((chord >= p.gradual_min) & (chord >= p.straightness * path)
                  & (peak <= p.gradual_peak * chord)
                  & (chord >= p.gradual_contrast * np.maximum(before, after)) & ~has_cut)
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

    def _merge_black(self, n: int, cuts: list[int], graduals: list[tuple[int, int]],
                     black: np.ndarray, fps: float) -> list[Boundary]:
        """Black runs between shots absorb the fades and cuts around them: one gradual boundary."""
        gap = max(1, int(round(self.params.merge_gap_s * fps)))
        events: list[tuple[int, int, str]] = [(c, c + 1, "cut") for c in cuts]
        events += [(s, e, "gradual") for s, e in graduals]
        events += [(s, e, "black") for s, e in _runs(black)]
        events.sort()
        merged: list[list] = []
        for s, e, kind in events:
            if merged and s <= merged[-1][1] + gap and ("black" in merged[-1][2] or kind == "black"
                                                         or kind == merged[-1][2] == "gradual"):
                merged[-1][1] = max(merged[-1][1], e)
                merged[-1][2].add(kind)
            else:
                merged.append([s, e, {kind}])
        out = []
        for s, e, kinds in merged:
            if kinds == {"cut"}:
                out.append(Boundary(s, "cut"))
                continue
            if "black" in kinds and (s == 0 or e >= n):
                continue  # black lead-in or tail: part of the first/last shot
            if kinds == {"black"} and e - s < 1:
                continue
            if kinds == {"black", "cut"} and e - s <= 2:
                # a cut next to a single black frame is still a cut
                out.append(Boundary(min(c for c in cuts if s <= c < e + 1) if any(
                    s <= c < e + 1 for c in cuts) else s, "cut"))
                continue
            out.append(Boundary((s + e) // 2, "gradual", s, e))
        return out


# -- from boundaries to shots -------------------------------------------------
def shots_table(boundaries: list[Boundary], times: np.ndarray, duration_s: float) -> pa.Table:
    """Shots that tile [0, duration): shot k covers [boundary k, boundary k+1)."""
    n = len(times)
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
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path_or_file)
    for rb in pf.iter_batches(batch_size=batch_frames,
                              columns=["frame_index", "time_s", "luma_mean", "black_ratio", "rgb_48x27"]):
        yield FrameBatch(
            first_index=int(rb.column(0)[0].as_py()),
            times=rb.column(1).to_numpy(),
            luma_mean=rb.column(2).to_numpy(),
            black_ratio=rb.column(3).to_numpy(),
            rgb=frames_of(rb.column(4)),
        )
